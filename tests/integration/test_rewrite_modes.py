"""Rewriting through the real binary with psql and psycopg2 (simple protocol): version bumps in each
mode and kind, client-mode stale writes turned into errors with nothing written, and statements
on unprotected tables left exactly as PostgreSQL would answer them."""

import datetime

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from rules_support import expect_error, guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

COUNTER_TABLES = """
    CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL,
                           note text, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, owner, balance) SELECT g, 'owner ' || g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE ledger (id serial PRIMARY KEY, account_id int, amount int NOT NULL);
"""
TIMESTAMP_TABLES = """
    CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL,
                           note text, version timestamptz NOT NULL DEFAULT '2000-01-01 00:00:00+00');
    INSERT INTO accounts (id, owner, balance) SELECT g, 'owner ' || g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE ledger (id serial PRIMARY KEY, account_id int, amount int NOT NULL);
"""
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
STALE_1 = "stale write to public.accounts (id)=(1): row changed since it was read"


def client_rules(**options):
    return rules_text(table_rule("accounts", mode="client", **options))


def versions(db):
    return dict(db.rows("SELECT id, version FROM accounts ORDER BY id"))


def state(db):
    return db.rows("SELECT id, balance, note, version FROM accounts ORDER BY id")


def run(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return (cur.statusmessage, cur.fetchall() if cur.description else None)


# --- bumps ----------------------------------------------------------------------------------

BUMPING = [(mode, kind) for kind in ("counter", "timestamp") for mode in ("track", "client", "increment")]


def assert_bumped(before, after, bumped_ids, kind):
    for key in before:
        if key not in bumped_ids:
            assert after[key] == before[key], f"row {key} was not updated but its version moved"
        elif kind == "counter":
            assert after[key] == before[key] + 1, f"row {key}: {before[key]} -> {after[key]}"
        else:
            assert after[key] > before[key], f"row {key}: {before[key]} -> {after[key]}"


@pytest.mark.parametrize("mode,kind", BUMPING, ids=[f"{m}-{k}" for m, k in BUMPING])
def test_update_bumps_once_per_row(guarded, mode, kind):
    db = guarded(rules_text(table_rule("accounts", mode=mode, kind=kind)),
                 COUNTER_TABLES if kind == "counter" else TIMESTAMP_TABLES)
    conn = db.connect()

    before = versions(db)
    assert run(conn, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")[0] == "UPDATE 1"
    after = versions(db)
    assert_bumped(before, after, {1}, kind)

    before = after
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id IN (2, 3)")[0] == "UPDATE 2"
    after = versions(db)
    assert_bumped(before, after, {2, 3}, kind)

    # UPDATE ... FROM with two ledger rows joining account 4: PostgreSQL updates it once.
    run(conn, "INSERT INTO ledger (account_id, amount) VALUES (4, 5), (4, 6), (5, 7)")
    before = after
    status, _ = run(conn, "UPDATE accounts SET balance = accounts.balance + l.amount FROM ledger l "
                          "WHERE l.account_id = accounts.id AND accounts.id = 4")
    assert status == "UPDATE 1"
    after = versions(db)
    assert_bumped(before, after, {4}, kind)

    # RETURNING shows the version as stored, the bumped one.
    before = after
    status, returned = run(conn, "UPDATE accounts AS a SET note = 'n' WHERE a.id = 5 RETURNING a.id, a.version")
    after = versions(db)
    assert_bumped(before, after, {5}, kind)
    assert returned == [(5, after[5])]

    # Every row at once.
    before = after
    assert run(conn, "UPDATE accounts SET balance = balance")[0] == "UPDATE 5"
    after = versions(db)
    assert_bumped(before, after, set(before), kind)
    assert conn.closed == 0


@pytest.mark.parametrize("mode", ["track", "increment", "client"])
def test_client_assignment_to_the_version(guarded, mode):
    db = guarded(rules_text(table_rule("accounts", mode=mode)), COUNTER_TABLES)
    conn = db.connect()
    # An ORM that bumps the version itself: exactly one bump either way.
    run(conn, "UPDATE accounts SET balance = 1, version = version + 1 WHERE id = 1")
    assert versions(db)[1] == 2
    run(conn, "UPDATE accounts SET version = 42, balance = 2 WHERE id = 2")
    # In increment and track mode staleguard owns the version; in client mode the client does.
    assert versions(db)[2] == (42 if mode == "client" else 2)


@pytest.mark.parametrize("mode", ["track", "client", "increment"])
def test_insert_on_conflict_do_update_and_merge_bump(guarded, mode):
    db = guarded(rules_text(table_rule("accounts", mode=mode)), COUNTER_TABLES)
    conn = db.connect()
    status, _ = run(conn, "INSERT INTO accounts (id, owner, balance) VALUES (1, 'x', 5), (9, 'y', 9) "
                          "ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance")
    assert status == "INSERT 0 2"
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id IN (1, 9) ORDER BY id") == [
        (1, 5, 2), (9, 9, 1)]
    # DO NOTHING and plain INSERT leave versions to the default.
    run(conn, "INSERT INTO accounts (id, owner, balance) VALUES (2, 'z', 0) ON CONFLICT DO NOTHING")
    assert versions(db)[2] == 1

    status, _ = run(conn, "MERGE INTO accounts a USING (VALUES (1, 70), (3, 30), (10, 8)) AS s(id, amount) "
                          "ON a.id = s.id "
                          "WHEN MATCHED AND s.amount > 50 THEN UPDATE SET balance = s.amount "
                          "WHEN MATCHED THEN DELETE "
                          "WHEN NOT MATCHED THEN INSERT (id, owner, balance) VALUES (s.id, 'new', s.amount)")
    assert status == "MERGE 3"
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id IN (1, 3, 10) ORDER BY id") == [
        (1, 70, 3), (10, 8, 1)]


@pytest.mark.parametrize("mode", ["track", "client", "increment"])
def test_xmin_and_trigger_kept_versions_are_not_bumped(guarded, mode):
    db = guarded(
        rules_text(table_rule("accounts", mode=mode, version="xmin"),
                   table_rule("ledger", mode=mode, bumped_by="trigger")),
        COUNTER_TABLES + """
        ALTER TABLE ledger ADD COLUMN version int NOT NULL DEFAULT 1;
        CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
        CREATE TRIGGER ledger_bump BEFORE UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION bump();
        INSERT INTO ledger (account_id, amount) VALUES (1, 1), (2, 2);
        """)
    conn = db.connect()
    run(conn, "UPDATE accounts SET balance = 7 WHERE id = 1")
    assert versions(db)[1] == 1  # the column is not the version: xmin is
    run(conn, "UPDATE ledger SET amount = 9")
    assert db.rows("SELECT version FROM ledger ORDER BY id") == [(2,), (2,)]
    if mode == "track":
        # The keyed UPDATE gets track mode's version check, but no bump.
        assert "version + 1" not in db.proxy.log()
    else:
        assert "rewrote" not in db.proxy.log()


def test_xmin_client_mode_stale_write(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="client", version="xmin")), COUNTER_TABLES)
    conn = db.connect()
    (xmin,), = db.rows("SELECT xmin::text FROM accounts WHERE id = 1")
    assert run(conn, f"UPDATE accounts SET balance = 1 WHERE id = 1 AND xmin = '{xmin}'")[0] == "UPDATE 1"
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, f"UPDATE accounts SET balance = 2 WHERE id = 1 AND xmin = '{xmin}'")
    error = expect_error(excinfo, "40001")
    assert error.diag.message_primary == STALE_1
    assert error.diag.message_detail.startswith(f"Expected version {xmin}.")
    assert db.rows("SELECT balance FROM accounts WHERE id = 1") == [(1,)]


# --- client mode: stale writes --------------------------------------------------------------

def test_stale_write_outside_a_transaction(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    assert run(conn, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 1")[0] == "UPDATE 1"
    assert versions(db)[1] == 2
    # Another session changes the row.
    db.execute_direct("UPDATE accounts SET balance = 50, version = 3 WHERE id = 1")
    before = state(db)
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 2 WHERE id = 1 AND version = 2")
    error = expect_error(excinfo, "40001")
    assert isinstance(error, psycopg2.errors.SerializationFailure)
    assert error.diag.severity == "ERROR"
    assert error.diag.message_primary == STALE_1
    assert error.diag.message_detail.startswith("Expected version 2.")
    assert error.diag.message_hint
    assert state(db) == before
    # The session goes on as usual.
    assert run(conn, "UPDATE accounts SET balance = 2 WHERE id = 1 AND version = 3 RETURNING version")[1] == [(4,)]
    assert run(conn, "SELECT 1")[1] == [(1,)]


def test_stale_write_with_a_deleted_row(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    db.execute_direct("DELETE FROM accounts WHERE id = 3")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 2 WHERE id = 3 AND version = 1")
    assert expect_error(excinfo, "40001").diag.message_primary == (
        "stale write to public.accounts (id)=(3): row changed since it was read")


def test_stale_write_inside_a_transaction_aborts_it(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect(autocommit=False)
    before = state(db)
    run(conn, "INSERT INTO ledger (account_id, amount) VALUES (1, 10)")
    run(conn, "UPDATE accounts SET balance = 3 WHERE id = 2 AND version = 1")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 2 WHERE id = 1 AND version = 7")
    assert expect_error(excinfo, "40001").diag.message_detail.startswith("Expected version 7.")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "SELECT 1")
    expect_error(excinfo, "25P02")
    conn.rollback()
    assert state(db) == before
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]
    # The connection is usable after ROLLBACK.
    assert run(conn, "SELECT balance FROM accounts WHERE id = 1")[1] == [(100,)]
    conn.commit()


def test_commit_after_a_stale_write_commits_nothing(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    before = state(db)
    run(conn, "BEGIN")
    run(conn, "INSERT INTO ledger (account_id, amount) VALUES (1, 10)")
    run(conn, "UPDATE accounts SET balance = 9 WHERE id = 2 AND version = 1")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 2 WHERE id = 1 AND version = 0")
    expect_error(excinfo, "40001")
    # PostgreSQL answers COMMIT of a failed transaction with ROLLBACK.
    assert run(conn, "COMMIT")[0] == "ROLLBACK"
    assert state(db) == before
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]


def test_stale_write_in_a_multi_statement_query(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    before = state(db)
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "INSERT INTO ledger (account_id, amount) VALUES (1, 1); "
                  "UPDATE accounts SET balance = 5 WHERE id = 2 AND version = 1; "
                  "UPDATE accounts SET balance = 6 WHERE id = 1 AND version = 5; "
                  "INSERT INTO ledger (account_id, amount) VALUES (1, 2)")
    assert expect_error(excinfo, "40001").diag.message_primary == STALE_1
    # Earlier statements rolled back, later ones never ran.
    assert state(db) == before
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]
    # A string whose checked statements are all fresh runs whole.
    status, _ = run(conn, "UPDATE accounts SET balance = 5 WHERE id = 2 AND version = 1; "
                          "INSERT INTO ledger (account_id, amount) VALUES (2, 5)")
    assert status == "INSERT 0 1"
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 2") == [(5, 2)]


def test_stale_write_with_psql(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    result = db.psql("""
        UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 1;
        UPDATE accounts SET balance = 2 WHERE id = 1 AND version = 1;
        BEGIN;
        INSERT INTO ledger (account_id, amount) VALUES (1, 1);
        UPDATE accounts SET balance = 3 WHERE id = 1 AND version = 1;
        SELECT 'after the stale write';
        COMMIT;
        SELECT 'ledger rows', count(*) FROM ledger;
        INSERT INTO ledger (account_id, amount) VALUES (5, 5)\\;
          UPDATE accounts SET balance = 4 WHERE id = 1 AND version = 1\\;
          SELECT 'not run';
        SELECT 'ledger rows', count(*) FROM ledger;
        SELECT 'end';
    """)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("psql:<stdin>") or "ERROR" in line]
    stale = f"ERROR:  40001: {STALE_1}"
    assert sum(stale in line for line in errors) == 3, result.stderr
    assert sum("ERROR:  25P02:" in line for line in errors) == 1, result.stderr
    assert "DETAIL:  Expected version 1." in result.stderr
    assert "HINT:  " in result.stderr
    assert "after the stale write" not in result.stdout
    assert "not run" not in result.stdout
    assert result.stdout.count("ledger rows |     0") == 2, result.stdout
    assert " end\n" in result.stdout, result.stdout
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(1, 2)]


def test_composite_key(guarded):
    db = guarded(
        rules_text(table_rule("tenant_accounts", key=["tenant", "id"], mode="client")),
        """
        CREATE TABLE tenant_accounts (tenant int, id int, balance int, version bigint NOT NULL DEFAULT 1,
                                      PRIMARY KEY (tenant, id));
        INSERT INTO tenant_accounts VALUES (1, 7, 0, 1), (2, 7, 0, 1);
        """)
    conn = db.connect()
    assert run(conn, "UPDATE tenant_accounts SET balance = 1 WHERE tenant = 1 AND id = 7 AND version = 1")[0] == \
        "UPDATE 1"
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE tenant_accounts SET balance = 2 WHERE id = 7 AND version = 1 AND tenant = 1")
    error = expect_error(excinfo, "40001")
    assert error.diag.message_primary == (
        "stale write to public.tenant_accounts (tenant, id)=(1, 7): row changed since it was read")
    assert db.rows("SELECT tenant, balance, version FROM tenant_accounts ORDER BY tenant") == [(1, 1, 2), (2, 0, 1)]
    # Only part of the key given: no check (the server's row count stands).
    assert run(conn, "UPDATE tenant_accounts SET balance = 3 WHERE id = 7 AND version = 1")[0] == "UPDATE 1"


def test_in_list_with_one_stale_row_changes_nothing(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    db.execute_direct("UPDATE accounts SET version = 2 WHERE id = 2")
    before = state(db)
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id IN (1, 2, 3) AND version = 1")
    error = expect_error(excinfo, "40001")
    assert error.diag.message_primary == (
        "stale write to public.accounts (id) in (1, 2, 3): rows changed since they were read")
    assert error.diag.message_detail.startswith("Expected version 1. 2 of 3 rows")
    assert state(db) == before
    # Duplicates in the list count once.
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id IN (1, 3, 1) AND version = 1")[0] == "UPDATE 2"
    assert versions(db) == {1: 2, 2: 2, 3: 2, 4: 1, 5: 1}
    # `id = ANY (ARRAY[...])` is not an IN list: not checked, the server's row count stands.
    assert run(conn, "UPDATE accounts SET balance = 1 WHERE id = ANY (ARRAY[4, 5]) AND version = 9")[0] == \
        "UPDATE 0"


def test_delete_checked(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    assert run(conn, "DELETE FROM accounts WHERE id = 5 AND version = 1")[0] == "DELETE 1"
    db.execute_direct("UPDATE accounts SET version = 2 WHERE id = 4")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "DELETE FROM accounts WHERE id = 4 AND version = 1")
    error = expect_error(excinfo, "40001")
    assert error.diag.message_primary == "stale write to public.accounts (id)=(4): row changed since it was read"
    assert "not deleted" in error.diag.message_detail
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "DELETE FROM accounts WHERE id IN (3, 4) AND version = 1")
    expect_error(excinfo, "40001")
    assert sorted(versions(db)) == [1, 2, 3, 4]
    # A DELETE without the version is not checked.
    assert run(conn, "DELETE FROM accounts WHERE id = 42")[0] == "DELETE 0"


def test_delete_allow(guarded):
    db = guarded(client_rules(delete_policy="allow"), COUNTER_TABLES)
    conn = db.connect()
    assert run(conn, "DELETE FROM accounts WHERE id = 4 AND version = 9")[0] == "DELETE 0"
    assert run(conn, "DELETE FROM accounts WHERE id = 4 AND version = 1")[0] == "DELETE 1"
    # UPDATEs are still checked.
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")


def test_custom_sqlstate(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="client"), sqlstate="SG409"), COUNTER_TABLES)
    conn = db.connect()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    assert expect_error(excinfo, "SG409").diag.message_primary == STALE_1
    result = db.psql("DELETE FROM accounts WHERE id = 2 AND version = 9;")
    assert "ERROR:  SG409: stale write to public.accounts (id)=(2)" in result.stderr


def test_client_mode_timestamp_version(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="client", kind="timestamp")), TIMESTAMP_TABLES)
    conn = db.connect()
    status, returned = run(conn, "UPDATE accounts SET balance = 1 WHERE id = 1 "
                                 "AND version = '2000-01-01 00:00:00+00' RETURNING version")
    assert status == "UPDATE 1" and returned[0][0] > EPOCH
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 2 WHERE id = 1 AND version = '2000-01-01 00:00:00+00'")
    error = expect_error(excinfo, "40001")
    assert error.diag.message_detail.startswith("Expected version 2000-01-01 00:00:00+00.")
    assert db.rows("SELECT balance FROM accounts WHERE id = 1") == [(1,)]


@pytest.mark.parametrize("option", ["watch", "ignore"])
def test_watch_and_ignore(guarded, option):
    columns = ["balance"] if option == "watch" else ["note"]
    db = guarded(rules_text(table_rule("accounts", mode="client", **{option: columns})), COUNTER_TABLES)
    conn = db.connect()
    # Only the unwatched / ignored column: untouched (no bump, no check).
    assert run(conn, "UPDATE accounts SET note = 'seen' WHERE id = 1 AND version = 9")[0] == "UPDATE 0"
    assert run(conn, "UPDATE accounts SET note = 'seen' WHERE id = 1")[0] == "UPDATE 1"
    assert versions(db)[1] == 1
    # The watched (or a not ignored) column: bumped and checked.
    assert run(conn, "UPDATE accounts SET note = 'x', balance = 5 WHERE id = 1 AND version = 1")[0] == "UPDATE 1"
    assert versions(db)[1] == 2
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 6 WHERE id = 1 AND version = 1")
    expect_error(excinfo, "40001")


def test_bypass_role(guarded, pg):
    db = guarded(rules_text(table_rule("accounts", mode="client", bypass_roles=[pg.trust_user])),
                 COUNTER_TABLES + f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {pg.trust_user};")
    loader = db.connect(user=pg.trust_user)
    assert run(loader, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")[0] == "UPDATE 0"
    # Bumps continue for bypass roles.
    assert run(loader, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1")[0] == "UPDATE 1"
    assert versions(db)[1] == 2
    # Everyone else is checked.
    with pytest.raises(psycopg2.Error) as excinfo:
        run(db.connect(), "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1")
    expect_error(excinfo, "40001")


def test_set_staleguard_enabled_off(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    run(conn, "SET staleguard.enabled = off")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")[0] == "UPDATE 0"
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1")[0] == "UPDATE 1"
    assert versions(db)[1] == 2  # bumps continue
    run(conn, "RESET staleguard.enabled")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")
    run(conn, "SET staleguard.enabled TO false")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")[0] == "UPDATE 0"
    run(conn, "SET staleguard.enabled = on")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")
    # Other sessions were never affected.
    other = db.connect()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(other, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")


def test_set_local_staleguard_enabled_ends_with_the_transaction(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    run(conn, "BEGIN")
    run(conn, "SET LOCAL staleguard.enabled = off")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")[0] == "UPDATE 0"
    run(conn, "COMMIT")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")
    # Also after ROLLBACK.
    run(conn, "BEGIN")
    run(conn, "SET LOCAL staleguard.enabled = off")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 2 AND version = 9")[0] == "UPDATE 0"
    run(conn, "ROLLBACK")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 2 AND version = 9")
    expect_error(excinfo, "40001")


def test_staleguard_enabled_with_a_bad_value_is_refused(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "SET staleguard.enabled = 'sometimes'")
    expect_error(excinfo, "22023")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")


DO_BLOCK = "DO $$ BEGIN UPDATE accounts SET balance = 0 WHERE id = 1; END $$"


def test_unanalysable_reject(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="increment"), unanalysable="reject"), COUNTER_TABLES)
    conn = db.connect()
    before = state(db)
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, DO_BLOCK)
    error = expect_error(excinfo, "0A000")
    assert "public.accounts" in error.diag.message_primary
    assert "DO block" in error.diag.message_primary
    assert "unanalysable: pass" in error.diag.message_hint
    assert state(db) == before
    # In a string with other statements, none of them runs.
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "INSERT INTO ledger (account_id, amount) VALUES (1, 1); " + DO_BLOCK)
    expect_error(excinfo, "0A000")
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]
    # A DO block that does not mention a protected table is fine.
    run(conn, "DO $$ BEGIN INSERT INTO ledger (account_id, amount) VALUES (1, 1); END $$")
    assert db.rows("SELECT count(*) FROM ledger") == [(1,)]
    # Inside a transaction the rejection aborts it like any error.
    run(conn, "BEGIN")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, DO_BLOCK)
    expect_error(excinfo, "0A000")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "SELECT 1")
    expect_error(excinfo, "25P02")
    run(conn, "ROLLBACK")


def test_unanalysable_pass(guarded):
    db = guarded(rules_text(table_rule("accounts", mode="client"), unanalysable="pass"), COUNTER_TABLES)
    conn = db.connect()
    run(conn, DO_BLOCK)
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(0, 1)]


# --- what is not protected stays exactly as PostgreSQL answers it ---------------------------

UNPROTECTED_SCRIPT = r"""
SELECT id, owner, balance, version FROM accounts ORDER BY id;
UPDATE ledger SET amount = amount + 1 WHERE account_id = 1 RETURNING *;
DELETE FROM ledger WHERE id = 2 RETURNING id, amount;
INSERT INTO accounts (id, owner, balance, version) VALUES (6, 'six', 600, 17) RETURNING *;
INSERT INTO ledger (account_id, amount) VALUES (1, 1), (2, 2) RETURNING id;
UPDATE ledger SET amount = 0 FROM accounts WHERE accounts.id = ledger.account_id AND accounts.version = 1;
WITH moved AS (DELETE FROM ledger WHERE amount = 0 RETURNING *) SELECT count(*) FROM moved;
BEGIN;
UPDATE ledger SET amount = 1 / 0;
SELECT 1;
ROLLBACK;
SELECT * FROM accounts_archive ORDER BY 1;
UPDATE accounts_archive SET version = version WHERE id = 1;
UPDATE accounts_archive SET balance = 1 WHERE id = 1 AND version = 99;
UPDAT accounts SET balance = 1;
SELECT 'accounts' AS word, $$UPDATE accounts SET version = 0$$ AS text;
COPY (SELECT id, owner FROM accounts ORDER BY id) TO STDOUT;
SELECT account_id, sum(amount) FROM ledger GROUP BY 1 ORDER BY 1;
SELECT 'end of script';
"""


def test_unprotected_statements_same_as_direct(guarded):
    setup = COUNTER_TABLES + """
        INSERT INTO ledger (account_id, amount) VALUES (1, 10), (1, 20), (2, 30);
        CREATE TABLE accounts_archive (id int PRIMARY KEY, balance int, version int NOT NULL DEFAULT 1);
        INSERT INTO accounts_archive VALUES (1, 1, 1);
    """
    db = guarded(client_rules(), setup)
    direct_db = guarded(client_rules(), setup, name="unused.yaml")
    proxied = db.psql(UNPROTECTED_SCRIPT, transcript=True)
    direct = direct_db.psql(UNPROTECTED_SCRIPT, transcript=True, direct=True)
    assert direct.stdout.rstrip().endswith("(1 row)"), direct.stdout
    assert "end of script" in direct.stdout
    assert proxied.returncode == direct.returncode
    assert proxied.stdout == direct.stdout
    assert db.rows("SELECT * FROM ledger ORDER BY id") == direct_db.rows("SELECT * FROM ledger ORDER BY id")
    assert state(db) == state(direct_db)
    assert "rewrote" not in db.proxy.log()


def test_savepoint_recovers_from_a_stale_write(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    run(conn, "BEGIN")
    run(conn, "INSERT INTO ledger (account_id, amount) VALUES (1, 1)")
    run(conn, "SAVEPOINT before_write")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9")
    expect_error(excinfo, "40001")
    run(conn, "ROLLBACK TO SAVEPOINT before_write")
    assert run(conn, "UPDATE accounts SET balance = 7 WHERE id = 1 AND version = 1")[0] == "UPDATE 1"
    assert run(conn, "COMMIT")[0] == "COMMIT"
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(7, 2)]
    assert db.rows("SELECT count(*) FROM ledger") == [(1,)]


def test_transaction_block_inside_one_query_string(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    conn = db.connect()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "BEGIN; INSERT INTO ledger (account_id, amount) VALUES (1, 1); "
                  "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9; COMMIT")
    expect_error(excinfo, "40001")
    # As PostgreSQL leaves it: COMMIT was skipped, the block is open and failed.
    assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, "SELECT 1")
    expect_error(excinfo, "25P02")
    assert run(conn, "ROLLBACK")[0] == "ROLLBACK"
    assert db.rows("SELECT count(*) FROM ledger") == [(0,)]


def test_server_errors_in_checked_statements_pass_unchanged(guarded):
    db = guarded(client_rules(), COUNTER_TABLES)
    # Default verbosity: with VERBOSITY verbose the 25P02 below shows LOCATION exec_parse_message
    # through staleguard (it runs the statement with Parse/Bind/Execute) against
    # exec_simple_query straight to PostgreSQL.
    script = """
        \\set VERBOSITY default
        UPDATE accounts SET balance = 1 / 0 WHERE id = 1 AND version = 1;
        UPDATE accounts SET balance = 'x' WHERE id = 1 AND version = 1;
        DELETE FROM accounts WHERE id = 1 AND version = 'not a number';
        BEGIN;
        UPDATE accounts SET balance = 1 / 0 WHERE id = 1 AND version = 1;
        UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 1;
        ROLLBACK;
        SELECT 'end of script';
    """
    proxied = db.psql(script, transcript=True)
    direct = db.psql(script, transcript=True, direct=True)
    assert "ERROR:  division by zero" in direct.stdout
    # Positions included: the server's, counted in the rewritten text, are carried back into the
    # client's by aligning the two token streams.
    assert proxied.stdout == direct.stdout
    # (The failing row PostgreSQL shows carries the bumped version: compare only the error.)
    result = db.psql("UPDATE accounts SET balance = NULL WHERE id = 1 AND version = 1;")
    assert "ERROR:  23502: null value in column \"balance\"" in result.stderr, result.stderr
    assert state(db)[0] == (1, 100, None, 1)


POSITIONED_ERRORS = [
    "UPDATE accounts SET balance = 1 WHERE id = 'x'",
    "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 'y'",
    "UPDATE accounts SET balance = 1 WHERE nosuch = 1",
    "SELECT 1; UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 'y'",
    "  /* leading comment */ UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 'y'",
    # Not rewritten in client mode (the client sets the version) but run as its own statement.
    "  /* c */ UPDATE accounts SET version = 'z' WHERE id = 1 AND version = 1",
]


@pytest.mark.parametrize("mode", ["increment", "client"])
def test_error_positions_refer_to_the_clients_text(guarded, mode):
    """The server reports positions in the text it ran; the client must get them in the text it
    sent, as PostgreSQL gives them (psql's LINE 1: ... ^ marker depends on it): shifted for a
    statement sent as written, carried through the token alignment for a rewritten one."""
    db = guarded(rules_text(table_rule("accounts", mode=mode)), COUNTER_TABLES)
    proxied, direct = db.connect(), db.direct()
    # In increment mode staleguard owns the version column: `SET version = 'z'` is replaced by
    # the bump, so the last case raises nothing there.
    cases = POSITIONED_ERRORS if mode == "client" else POSITIONED_ERRORS[:-1]
    for sql in cases:
        positions = []
        for conn in (direct, proxied):
            with pytest.raises(psycopg2.Error) as excinfo:
                run(conn, sql)
            positions.append((excinfo.value.pgcode, excinfo.value.diag.statement_position))
        assert positions[1] == positions[0], sql
    if mode == "client":
        # Sent as written (the client sets the version itself), after a leading comment.
        sql = POSITIONED_ERRORS[-1]
        for conn in (direct, proxied):
            with pytest.raises(psycopg2.Error) as excinfo:
                run(conn, sql)
            positions.append(excinfo.value.diag.statement_position)
        assert positions[-1] == positions[-2] is not None
