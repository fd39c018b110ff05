-- Errors, notices and transactions: psql output must be identical directly and through the proxy.
CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
INSERT INTO acct VALUES (1, 100), (2, 50);
-- errors of several kinds, outside a transaction
SELECT 1 / 0;
SELECT * FROM no_such_table;
SELEC 1;
SELECT 'unterminated;
';
INSERT INTO acct VALUES (1, 10);
UPDATE acct SET balance = -1 WHERE id = 2;
SELECT 'abc'::int;
-- the session is fine after each of them
SELECT id, balance FROM acct ORDER BY id;
-- notices and warnings, with detail and hint
DO $$ BEGIN RAISE NOTICE 'plain notice'; END $$;
DO $$ BEGIN RAISE WARNING 'a warning' USING DETAIL = 'some detail', HINT = 'a hint'; END $$;
DROP TABLE IF EXISTS not_there;
DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'P0001', HINT = 'try again'; END $$;
DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'fake serialization failure'; END $$;
-- the full error fields (SQLSTATE, position, schema/table/constraint names)
\set VERBOSITY verbose
INSERT INTO acct VALUES (2, 5);
UPDATE acct SET balance = balance - 500 WHERE id = 1;
SELECT nope FROM acct;
DO $$ BEGIN RAISE NOTICE 'verbose notice' USING DETAIL = 'd', HINT = 'h'; END $$;
\set VERBOSITY default
-- a committed transaction
BEGIN;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
UPDATE acct SET balance = balance + 30 WHERE id = 2;
COMMIT;
SELECT id, balance FROM acct ORDER BY id;
-- a rolled-back transaction
BEGIN;
DELETE FROM acct;
SELECT count(*) FROM acct;
ROLLBACK;
SELECT count(*) FROM acct;
-- a failing statement inside a transaction: everything after it is 25P02 until ROLLBACK
BEGIN;
UPDATE acct SET balance = 0 WHERE id = 1;
SELECT 1 / 0;
SELECT id FROM acct;
UPDATE acct SET balance = 1 WHERE id = 2;
\echo :SQLSTATE
COMMIT;
SELECT id, balance FROM acct ORDER BY id;
-- savepoints
BEGIN;
UPDATE acct SET balance = balance + 1 WHERE id = 1;
SAVEPOINT s1;
INSERT INTO acct VALUES (1, 0);
ROLLBACK TO SAVEPOINT s1;
UPDATE acct SET balance = balance + 1 WHERE id = 2;
RELEASE SAVEPOINT s1;
COMMIT;
SELECT id, balance FROM acct ORDER BY id;
-- errors at COMMIT time (deferred constraint) and a transaction-level error
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
BEGIN;
INSERT INTO child VALUES (99);
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM acct;
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
ROLLBACK;
COMMIT;
ROLLBACK;
-- errors inside functions carry context lines
CREATE FUNCTION boom(int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RETURN 10 / $1;
END $$;
SELECT boom(0);
-- session settings survive
SET search_path = pg_catalog, public;
SHOW search_path;
SET application_name = 'psql-script';
SHOW application_name;
RESET ALL;
DROP TABLE child, parent, acct;
DROP FUNCTION boom(int);
\echo end of script
