-- accounts
UPDATE accounts SET balance = 1;