-- DDL, DML and a SELECT of many types: psql output must be identical directly and through the proxy.
\pset null '<null>'
CREATE TABLE items (
    id serial PRIMARY KEY,
    name text NOT NULL,
    price numeric(10, 2),
    qty int DEFAULT 0,
    tags text[],
    attrs jsonb,
    created date,
    version bigint NOT NULL DEFAULT 1
);
CREATE INDEX items_name_idx ON items (name);
ALTER TABLE items ADD COLUMN note varchar(40);
COMMENT ON TABLE items IS 'things for sale';
INSERT INTO items (name, price, qty, tags, attrs, created)
VALUES ('apple', 1.25, 10, ARRAY['fruit', 'red'], '{"origin": "NZ", "organic": true}', '2024-03-01'),
       ('bread', 3.50, 2, ARRAY['bakery'], '{"sliced": false}', '2024-03-02'),
       ('cheese', NULL, 0, NULL, NULL, NULL);
INSERT INTO items (name, price) VALUES ('dates', 7.00) RETURNING id, name, price, qty, version;
UPDATE items SET qty = qty + 1, version = version + 1 WHERE price < 5 RETURNING id, qty, version;
DELETE FROM items WHERE name = 'cheese';
SELECT * FROM items ORDER BY id;
SELECT count(*), sum(price), avg(qty)::numeric(10, 3), max(created) FROM items;
-- one value of each common type, NULLs included
SELECT 42::smallint AS int2, 2147483647::int AS int4, '-9223372036854775808'::bigint AS int8,
       3.14159::real AS float4, 2.718281828459045::double precision AS float8,
       123456789.0123456789::numeric AS numeric, 'NaN'::numeric AS nan,
       true AS bool, NULL::bool AS null_bool,
       'héllo wörld ✓'::text AS utf8, ''::text AS empty, E'tab\there'::text AS escaped,
       'x'::char(3) AS bpchar, 'abc'::bytea AS bytea, '\x00ff10'::bytea AS bytes;
SELECT '2024-02-29'::date AS date, '13:45:10.123'::time AS time,
       '2024-02-29 13:45:10.5'::timestamp AS ts, '2024-02-29 13:45:10.5+02'::timestamptz AS tstz,
       '1 year 2 mons 3 days 04:05:06'::interval AS iv,
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uuid, '192.168.1.0/24'::cidr AS cidr,
       '10.0.0.1'::inet AS inet, '08:00:2b:01:02:03'::macaddr AS mac,
       '{"a": [1, 2, {"b": null}]}'::json AS json, '{"b": 1, "a": 2}'::jsonb AS jsonb,
       ARRAY[[1, 2], [3, 4]] AS int_matrix, ARRAY['a', NULL, 'c'] AS text_array,
       ROW(1, 'two', NULL) AS record, int4range(1, 10) AS range, point(1.5, 2) AS point,
       B'1011'::bit(4) AS bits, 'fat & rat'::tsquery AS tsq;
-- a wide row and a long value (many DataRow bytes)
SELECT length(repeat('x', 200000)) AS len, md5(repeat('abc', 100000)) AS md5;
SELECT repeat('0123456789', 2000) AS long_text;
SELECT g, g * g AS sq, repeat('#', g % 7) AS bar FROM generate_series(1, 500) AS g;
-- no rows, no columns
SELECT * FROM items WHERE false;
SELECT;
-- views, functions, upsert, CTEs
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 5;
SELECT * FROM cheap ORDER BY id;
CREATE FUNCTION add_one(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
SELECT add_one(41);
INSERT INTO items (id, name) VALUES (1, 'apple again')
ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = items.version + 1
RETURNING id, name, version;
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5)
SELECT string_agg(n::text, ',') FROM t;
-- psql meta-commands that send their own queries
\d items
\dv
\df add_one
-- a prepared statement at the SQL level, and psql variables
PREPARE by_name(text) AS SELECT id, name FROM items WHERE name = $1;
EXECUTE by_name('bread');
DEALLOCATE by_name;
SELECT 7 AS seven, 'seven' AS word \gset
\echo :seven :word
SELECT name, price FROM items WHERE id = :seven - 5;
-- \gdesc describes a statement through the extended protocol (Parse/Describe/Sync)
SELECT id, name, price FROM items \gdesc
TRUNCATE items;
DROP VIEW cheap;
DROP FUNCTION add_one(int);
DROP TABLE items;
\echo end of script
