"""Client-mode checks and bumps through the extended protocol: psycopg 3 with server-side binding
(text and binary parameters), named prepared statements reused, a raw batch of several Executes
before one Sync, and pgbench in each of its query modes."""

import os
import re
import struct
import subprocess
import uuid

import psycopg
import psycopg.errors
import psycopg2
import pytest

import pgwire
from rules_support import guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

ACCOUNTS = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) SELECT g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE ledger (id serial PRIMARY KEY, account_id int, amount int NOT NULL);
"""
CLIENT_RULES = rules_text(table_rule("accounts", mode="client"))


def connect3(db, **kwargs):
    """psycopg 3 through staleguard; prepare_threshold=0 prepares every statement (named Parse)."""
    pg, proxy = db.pg, db.proxy
    kwargs.setdefault("prepare_threshold", 0)
    kwargs.setdefault("autocommit", True)
    conn = psycopg.connect(host=proxy.host, port=proxy.port, dbname=db.db, user=pg.admin_user,
                           password=pg.admin_password, connect_timeout=10, **kwargs)
    db._conns.append(conn)
    return conn


@pytest.mark.parametrize("placeholder", ["%t", "%b"], ids=["text", "binary"])
def test_stale_write_with_server_side_binding(guarded, placeholder):
    db = guarded(CLIENT_RULES, ACCOUNTS)
    conn = connect3(db)
    p = placeholder
    update = f"UPDATE accounts SET balance = {p} WHERE id = {p} AND version = {p}"
    assert conn.execute(update, (1, 1, 1)).rowcount == 1
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(update, (2, 1, 1))
    error = excinfo.value
    assert error.sqlstate == "40001"
    assert isinstance(error, psycopg.errors.SerializationFailure)
    assert error.diag.severity == "ERROR"
    assert error.diag.message_primary == "stale write to public.accounts (id)=(1): row changed since it was read"
    assert error.diag.message_detail.startswith("Expected version 1.")
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(1, 2)]
    # RETURNING in the extended protocol: rows come back with the bumped version.
    rows = conn.execute(update + " RETURNING id, version", (3, 1, 2)).fetchall()
    assert rows == [(1, 3)]
    # IN lists with parameters.
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(f"UPDATE accounts SET balance = 0 WHERE id IN ({p}, {p}) AND version = {p}", (1, 2, 1))
    assert excinfo.value.sqlstate == "40001"
    assert excinfo.value.diag.message_primary == (
        "stale write to public.accounts (id) in (1, 2): rows changed since they were read")
    assert db.rows("SELECT balance FROM accounts WHERE id = 2") == [(200,)]


def test_stale_write_in_a_psycopg3_transaction(guarded):
    db = guarded(CLIENT_RULES, ACCOUNTS)
    conn = connect3(db)
    with pytest.raises(psycopg.errors.SerializationFailure):
        with conn.transaction():
            conn.execute("INSERT INTO ledger (account_id, amount) VALUES (%s, %s)", (1, 5))
            conn.execute("UPDATE accounts SET balance = %s WHERE id = %s AND version = %s", (1, 1, 9))
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]
    # Without the transaction() helper: the next statement fails with 25P02, ROLLBACK recovers.
    conn.execute("BEGIN")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s AND version = %s", (1, 1, 9))
    assert excinfo.value.sqlstate == "40001"
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("SELECT %s::int", (1,))
    assert excinfo.value.sqlstate == "25P02"
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT balance FROM accounts WHERE id = %s", (1,)).fetchone() == (100,)


def test_binary_parameters_of_each_key_type(guarded):
    key = uuid.UUID("0b7e8e4c-7a4e-4d55-9d1c-2f6e3b9a1c00")
    db = guarded(
        rules_text(table_rule("by_int", mode="client"), table_rule("by_text", key=["code"], mode="client"),
                   table_rule("by_uuid", key=["uid"], mode="client")),
        f"""
        CREATE TABLE by_int (id bigint PRIMARY KEY, balance int, version bigint NOT NULL DEFAULT 1);
        INSERT INTO by_int (id, balance) VALUES (7, 0), (70000, 0), (1099511627776, 0), (-3, 0);
        CREATE TABLE by_text (code text PRIMARY KEY, balance int, version int NOT NULL DEFAULT 1);
        INSERT INTO by_text (code, balance) VALUES ('alpha', 0);
        CREATE TABLE by_uuid (uid uuid PRIMARY KEY, balance int, version int NOT NULL DEFAULT 1);
        INSERT INTO by_uuid (uid, balance) VALUES ('{key}', 0);
        """)
    conn = connect3(db)
    # psycopg 3 declares int2, int4 or int8 by the value's size.
    for value in (7, 70000, 1099511627776, -3):
        with pytest.raises(psycopg.Error) as excinfo:
            conn.execute("UPDATE by_int SET balance = 1 WHERE id = %b AND version = %b", (value, 2 ** 40))
        assert excinfo.value.sqlstate == "40001"
        assert excinfo.value.diag.message_primary == (
            f"stale write to public.by_int (id)=({value}): row changed since it was read")
        assert excinfo.value.diag.message_detail.startswith(f"Expected version {2 ** 40}.")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("UPDATE by_text SET balance = 1 WHERE code = %b AND version = %b", ("alpha", 5))
    assert excinfo.value.diag.message_primary == (
        "stale write to public.by_text (code)=(alpha): row changed since it was read")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("UPDATE by_uuid SET balance = 1 WHERE uid = %b AND version = %b", (key, 5))
    assert excinfo.value.diag.message_primary == (
        f"stale write to public.by_uuid (uid)=({key}): row changed since it was read")
    # Fresh writes with the same binary parameters go through and bump.
    assert conn.execute("UPDATE by_uuid SET balance = 1 WHERE uid = %b AND version = %b", (key, 1)).rowcount == 1
    assert db.rows("SELECT balance, version FROM by_uuid") == [(1, 2)]
    assert db.rows("SELECT sum(balance) FROM by_int") == [(0,)]


def test_named_prepared_statement_reused(guarded):
    db = guarded(CLIENT_RULES, ACCOUNTS)
    conn = connect3(db)
    update = "UPDATE accounts SET balance = balance + 1 WHERE id = %s AND version = %s"
    assert conn.execute(update, (1, 1)).rowcount == 1
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(update, (1, 1))
    assert excinfo.value.diag.message_primary == (
        "stale write to public.accounts (id)=(1): row changed since it was read")
    assert conn.execute(update, (2, 1)).rowcount == 1
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(update, (2, 1))
    assert excinfo.value.diag.message_primary == (
        "stale write to public.accounts (id)=(2): row changed since it was read")
    assert conn.execute(update, (1, 2)).rowcount == 1
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id <= 2 ORDER BY id") == [
        (1, 102, 3), (2, 201, 2)]
    # psycopg really prepared it once and reused the name.
    prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'UPDATE accounts%%'")
    assert prepared.fetchone() == (1,)


def test_several_executes_before_one_sync(guarded):
    """A named statement bound three times in one batch: the stale second Execute fails the batch,
    so (as PostgreSQL does for any error) the first one is rolled back and the third skipped."""
    db = guarded(CLIENT_RULES, ACCOUNTS)
    with db.raw() as conn:
        int4 = 23
        conn.send(pgwire.parse("upd", "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2", (int4, int4))
                  + pgwire.bind("upd", [b"1", b"1"]) + pgwire.execute()
                  + pgwire.bind("upd", [struct.pack("!i", 2), struct.pack("!i", 5)], binary=True) + pgwire.execute()
                  + pgwire.bind("upd", [b"3", b"1"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        tags = [tag for tag, _ in messages]
        assert tags == [b"1", b"2", b"C", b"2", b"E", b"Z"], messages
        errors = pgwire.errors_in(messages)
        assert errors[0]["C"] == "40001"
        assert errors[0]["M"] == "stale write to public.accounts (id)=(2): row changed since it was read"
        assert errors[0]["D"].startswith("Expected version 5.")
        assert messages[-1][1] == b"I"
        assert db.rows("SELECT id, balance, version FROM accounts WHERE id <= 3 ORDER BY id") == [
            (1, 100, 1), (2, 200, 1), (3, 300, 1)]
        # The named statement survives (Parse was before the error): reuse it, fresh this time.
        conn.send(pgwire.bind("upd", [b"2", b"1"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert [tag for tag, _ in messages] == [b"2", b"C", b"Z"], messages
        assert db.rows("SELECT balance, version FROM accounts WHERE id = 2") == [(0, 2)]
        conn.send(pgwire.TERMINATE)


def test_sql_prepare_and_execute_bump(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="increment")), ACCOUNTS)
    conn = connect3(db, prepare_threshold=None)
    conn.execute("PREPARE upd(int) AS UPDATE accounts SET balance = 0 WHERE id = $1")
    conn.execute("EXECUTE upd(1)")
    conn.execute("EXECUTE upd(1)")
    assert db.rows("SELECT version FROM accounts WHERE id = 1") == [(3,)]


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_sql_prepare_then_stale_execute_is_checked(guarded, protocol):
    """The statement inside an SQL-level PREPARE is rewritten (so every EXECUTE bumps), and its
    check applies to each EXECUTE name(...), filled with EXECUTE's arguments."""
    db = guarded(CLIENT_RULES, ACCOUNTS)
    if protocol == "simple":
        conn = db.connect()
        conn.cursor().execute("PREPARE upd(int, int) AS "
                              "UPDATE accounts SET balance = 5 WHERE id = $1 AND version = $2")

        def execute(sql):
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.rowcount
    else:
        conn = connect3(db, prepare_threshold=None)
        conn.execute("PREPARE upd(int, int) AS UPDATE accounts SET balance = 5 WHERE id = $1 AND version = $2")

        def execute(sql):
            return conn.execute(sql).rowcount
    assert execute("EXECUTE upd(1, 1)") == 1
    assert db.rows("SELECT version FROM accounts WHERE id = 1") == [(2,)]
    with pytest.raises((psycopg.Error, psycopg2.Error)) as excinfo:
        execute("EXECUTE upd(1, 1)")
    code = getattr(excinfo.value, "sqlstate", None) or getattr(excinfo.value, "pgcode", None)
    assert code == "40001"
    assert "stale write to public.accounts (id)=(1)" in str(excinfo.value)
    assert "Expected version 1." in str(excinfo.value)
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(5, 2)]
    # After DEALLOCATE ALL and a new PREPARE without a version predicate: no check.
    execute("DEALLOCATE ALL") if protocol == "simple" else conn.execute("DEALLOCATE ALL")
    conn.cursor().execute("PREPARE upd(int) AS UPDATE accounts SET balance = 6 WHERE id = $1") \
        if protocol == "simple" else conn.execute("PREPARE upd(int) AS UPDATE accounts SET balance = 6 WHERE id = $1")
    assert execute("EXECUTE upd(1)") == 1
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(6, 3)]


# --- pgbench ---------------------------------------------------------------------------------

CLIENTS = 2
TRANSACTIONS = 100


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_increment_mode(pg, guarded, mode):
    db = guarded(rules_text(table_rule("pgbench_accounts", key=["aid"], mode="increment")))
    env = dict(os.environ, PGPASSWORD=pg.admin_password)
    init = subprocess.run([pg.tool("pgbench"), "-i", "-s", "1", "-q", "-h", pg.host, "-p", str(pg.port),
                           "-U", pg.admin_user, db.db], env=env, capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    db.execute_direct("ALTER TABLE pgbench_accounts ADD COLUMN version int NOT NULL DEFAULT 1")

    result = subprocess.run(
        [pg.tool("pgbench"), "-n", "-M", mode, "-c", str(CLIENTS), "-j", "2", "-t", str(TRANSACTIONS),
         "-h", db.proxy.host, "-p", str(db.proxy.port), "-U", pg.admin_user, db.db],
        env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    processed = re.search(r"number of transactions actually processed: (\d+)/(\d+)", output)
    assert processed, output
    done = int(processed.group(1))
    assert done == CLIENTS * TRANSACTIONS, output

    (bumps, accounts_delta, history_delta), = db.rows(
        "SELECT (SELECT sum(version) - count(*) FROM pgbench_accounts),"
        " (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(delta) FROM pgbench_history)")
    # One UPDATE of pgbench_accounts per TPC-B transaction, each bumping one row once.
    assert bumps == done
    assert accounts_delta == history_delta
    assert "rewrote" in db.proxy.log()


def test_requests_after_a_stale_write_before_the_sync_do_not_stall(guarded):
    """The race behind a rare psycopg pipeline hang, made deterministic: the client learns of the
    stale write (after a Flush) before it sends the rest of its batch. The server discards that rest
    until the Sync, so staleguard must not wait for a verdict on it."""
    db = guarded(CLIENT_RULES, ACCOUNTS)
    update = "UPDATE accounts SET balance = $1 WHERE id = $2 AND version = $3"
    flush = pgwire.message(b"H")
    with pgwire.RawConnection(db.proxy.host, db.proxy.port) as raw:
        assert raw.startup(db.pg.admin_user, db.db, password=db.pg.admin_password)[-1][0] == b"Z"
        raw.send(pgwire.parse("", update) + pgwire.bind("", [b"0", b"2", b"9"]) + pgwire.execute() + flush)
        assert pgwire.errors_in(raw.read_until_error())[0]["C"] == "40001"
        raw.send(pgwire.bind("", [b"0", b"3", b"1"]) + pgwire.execute() + flush)
        raw.send(pgwire.SYNC)
        rest = raw.read_until_ready(timeout=10)
        assert rest[-1] == (b"Z", b"I"), rest
        assert not pgwire.errors_in(rest), rest
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id IN (2, 3) ORDER BY id") == [
        (2, 200, 1), (3, 300, 1)]


def test_a_query_sent_while_the_server_skips_to_the_sync_gets_no_answer(guarded):
    """After an error in an unsynced batch PostgreSQL drops whatever comes before the Sync, a
    simple Query included, without answering it: the next ReadyForQuery is the Sync's, and the
    session keeps pairing responses with requests (a tracked read after it shows only its columns)."""
    db = guarded(rules_text(table_rule("accounts")), ACCOUNTS)
    flush = pgwire.message(b"H")
    with pgwire.RawConnection(db.proxy.host, db.proxy.port) as raw:
        assert raw.startup(db.pg.admin_user, db.db, password=db.pg.admin_password)[-1][0] == b"Z"
        raw.send(pgwire.parse("", "SELECT 1/0") + pgwire.bind("", []) + pgwire.execute() + flush)
        assert pgwire.errors_in(raw.read_until_error())[0]["C"] == "22012"
        raw.send(pgwire.query("UPDATE accounts SET balance = 0 WHERE id = 1") + pgwire.SYNC)
        assert raw.read_until_ready(timeout=10) == [(b"Z", b"I")]
        for _ in range(2):
            rows = raw.simple_query("SELECT balance FROM accounts WHERE id = 2")
            descriptions = [payload for tag, payload in rows if tag == b"T"]
            assert len(descriptions) == 1 and struct.unpack("!h", descriptions[0][:2])[0] == 1, rows
            assert pgwire.data_rows(rows) == [["200"]], rows
            assert rows[-1] == (b"Z", b"I"), rows
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(100, 1)]


def test_in_list_parameters_with_equal_values(guarded):
    """`id IN ($1, $2)` bound to (3, 3) names one row: PostgreSQL updates it once, which is a
    fresh write, not a stale one."""
    db = guarded(CLIENT_RULES, ACCOUNTS)
    conn = connect3(db)
    cursor = conn.execute("UPDATE accounts SET balance = 0 WHERE id IN (%s, %s) AND version = %s", (3, 3, 1))
    assert cursor.rowcount == 1
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 3") == [(0, 2)]


def test_stale_write_in_a_pipeline(guarded):
    db = guarded(CLIENT_RULES, ACCOUNTS)
    conn = connect3(db)
    update = "UPDATE accounts SET balance = %s WHERE id = %s AND version = %s"
    with pytest.raises(psycopg.Error) as excinfo:
        with conn.pipeline():
            conn.execute(update, (0, 1, 1))
            conn.execute(update, (0, 2, 9))
            conn.execute(update, (0, 3, 1))
    assert excinfo.value.sqlstate == "40001"
    assert excinfo.value.diag.message_primary == (
        "stale write to public.accounts (id)=(2): row changed since it was read")
    # One Sync, one implicit transaction: nothing of the pipeline was written.
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id <= 3 ORDER BY id") == [
        (1, 100, 1), (2, 200, 1), (3, 300, 1)]
    assert conn.execute("SELECT 1").fetchone() == (1,)
