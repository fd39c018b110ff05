-- Read a row, then change it: the pattern track mode protects (the UPDATE is checked against the
-- version the SELECT saw). Run with pgbench -f; :scale comes from pgbench_branches.
\set aid random(1, 100000 * :scale)
\set delta random(-5000, 5000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
