-- touches accounts
SELECT 1