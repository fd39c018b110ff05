-- COPY both ways, several statements in one Query message, empty queries, cursors and LISTEN/NOTIFY.
CREATE TABLE t (id int PRIMARY KEY, label text, amount numeric);
-- \copy reads its rows from this script
\copy t FROM stdin
1	one	1.5
2	two	\N
3	three	-7
\.
-- COPY ... FROM STDIN is the same protocol, started by the server
COPY t (id, label, amount) FROM STDIN WITH (FORMAT csv, HEADER true);
id,label,amount
4,"four, with comma",4.25
5,"five ""quoted""",
\.
SELECT * FROM t ORDER BY id;
COPY t TO STDOUT;
COPY (SELECT id, upper(label) FROM t WHERE id > 2 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
\copy (SELECT id, label FROM t ORDER BY id DESC) TO stdout
COPY t TO STDOUT WITH (FORMAT binary);
-- a failing COPY (psql stops reading a script after a failed COPY FROM STDIN, so COPY-in
-- errors are tested from Python instead)
COPY missing TO STDOUT;
COPY t (nope) TO STDOUT;
SELECT count(*) FROM t;
-- several statements in one Query message: psql sends them together when joined with \;
SELECT 1 AS a \; SELECT 2 AS b \; SELECT 3 AS c;
INSERT INTO t VALUES (10, 'ten', 10) \; UPDATE t SET amount = amount * 2 WHERE id = 10 \; SELECT * FROM t WHERE id = 10;
-- an error in the middle of a batch stops the rest of it
SELECT 'before' \; SELECT 1 / 0 \; SELECT 'never';
BEGIN \; INSERT INTO t VALUES (11, 'eleven', 11) \; COMMIT;
SELECT count(*) FROM t;
-- empty queries
;
;;
SELECT 'after empty' \; ;
-- a cursor fetched in pieces
BEGIN;
DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 10) AS g;
FETCH 3 FROM c;
FETCH 3 FROM c;
MOVE 2 IN c;
FETCH ALL FROM c;
CLOSE c;
COMMIT;
-- LISTEN/NOTIFY inside one session (psql prints the notification after the next command)
LISTEN chan;
NOTIFY chan, 'first';
SELECT pg_notify('chan', 'second');
UNLISTEN chan;
NOTIFY chan, 'unheard';
SELECT 'done';
-- psql's FETCH_COUNT fetches a big result through a cursor
\set FETCH_COUNT 100
SELECT g FROM generate_series(1, 1000) AS g WHERE g % 97 = 0;
\unset FETCH_COUNT
DROP TABLE t;
\echo end of script
