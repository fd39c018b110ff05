"""SQL no one would write by hand but anyone can send: the proxy must answer it, never crash."""

import psycopg2
import pytest

from rules_support import guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

SETUP = """
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version bigint NOT NULL DEFAULT 1);
INSERT INTO accounts (id, balance) VALUES (1, 10);
"""


@pytest.mark.parametrize("depth", [1000, 5000, 9000, 50000])
@pytest.mark.parametrize("shape", ["unary_minus_select", "sum_in_update"])
def test_deeply_nested_statement_on_a_protected_table(guarded, depth, shape):
    # Thousands of nesting levels once overflowed the worker's stack inside protobuf-c, taking
    # every session down with it. Whatever the verdict (rejected, or PostgreSQL's own error),
    # the session gets an answer and the proxy keeps serving.
    db = guarded(rules_text(table_rule("accounts", mode="client")), SETUP)
    if shape == "unary_minus_select":
        sql = "SELECT " + "- " * depth + "id FROM accounts"
    else:
        sql = "UPDATE accounts SET balance = " + "1+" * depth + "1 WHERE id = 1 AND version = 1"
    conn = db.connect()
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
        except psycopg2.Error as error:
            assert error.pgcode is not None, f"no SQLSTATE: {error}"
    conn.close()
    check = db.connect()
    with check.cursor() as cur:
        cur.execute("SELECT balance FROM accounts WHERE id = 1")
        assert cur.fetchone() is not None
    check.close()
    assert db.proxy.alive()
