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


STRINGS_SETUP = """
CREATE TABLE accounts (id int PRIMARY KEY, owner text, version bigint NOT NULL DEFAULT 1);
INSERT INTO accounts (id, owner) SELECT g, 'o' || g FROM generate_series(1, 3) g;
"""
# With standard_conforming_strings off, PostgreSQL reads `'q\' or true --'` as one string;
# staleguard's parser would read a string, OR TRUE and a comment, and its rewrite would then
# write every row.
INJECTED = "UPDATE accounts SET owner = 'x' WHERE id = 1 AND owner <> 'q\\' or true --'"


@pytest.mark.parametrize("mode", ["track", "client"])
def test_backslash_strings_with_standard_conforming_strings_off_are_not_misread(guarded, mode):
    db = guarded(rules_text(table_rule("accounts", mode=mode)), STRINGS_SETUP)
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SET standard_conforming_strings = off")
        with pytest.raises(psycopg2.Error) as excinfo:
            cur.execute(INJECTED)
        assert excinfo.value.pgcode == "0A000"
        assert "standard_conforming_strings" in excinfo.value.diag.message_primary
        # Escape strings and strings without a backslash read the same either way.
        cur.execute("UPDATE accounts SET owner = E'C:\\\\temp' WHERE id = 2" + (" AND version = 1" if mode == "client" else ""))
        assert cur.statusmessage == "UPDATE 1"
    assert db.rows("SELECT id, owner, version FROM accounts ORDER BY id") == [(1, "o1", 1), (2, "C:\\temp", 2),
                                                                                (3, "o3", 1)]


def test_unanalysable_pass_sends_such_strings_as_written(guarded):
    db = guarded(rules_text(table_rule("accounts"), unanalysable="pass"), STRINGS_SETUP)
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SET standard_conforming_strings = off")
        cur.execute(INJECTED)
        assert cur.statusmessage == "UPDATE 1"  # as PostgreSQL reads it: only row 1, not bumped
    assert db.rows("SELECT id, owner, version FROM accounts ORDER BY id") == [(1, "x", 1), (2, "o2", 1), (3, "o3", 1)]


@pytest.mark.parametrize("policy", ["reject", "pass"])
def test_client_only_encodings_are_not_misread(guarded, policy):
    # In SJIS 表 is 0x95 0x5C: to a parser reading the bytes as they come its second byte is a
    # backslash, which a rewritten E'...' literal would double (storing 表 and a newline for '表n').
    top = {"unanalysable": "pass"} if policy == "pass" else {}
    db = guarded(rules_text(table_rule("accounts"), **top), STRINGS_SETUP)
    conn = db.connect()
    conn.set_client_encoding("SJIS")
    with conn.cursor() as cur:
        if policy == "reject":
            with pytest.raises(psycopg2.Error) as excinfo:
                cur.execute("UPDATE accounts SET owner = %s WHERE id = 1", ("表n",))
            assert excinfo.value.pgcode == "0A000"
            assert "client_encoding SJIS" in excinfo.value.diag.message_primary
        else:
            cur.execute("UPDATE accounts SET owner = %s WHERE id = 1", ("表n",))
        cur.execute("UPDATE accounts SET owner = 'ascii' WHERE id = 2")  # analysed as usual
    expected_owner = "o1" if policy == "reject" else "表n"
    expected_version = 1  # under pass the statement goes as written: not bumped
    assert db.rows("SELECT id, owner, version FROM accounts ORDER BY id") == [
        (1, expected_owner, expected_version), (2, "ascii", 2), (3, "o3", 1)]
