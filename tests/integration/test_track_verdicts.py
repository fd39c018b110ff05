"""The exact messages a client gets around a checked write, over a raw socket.

A single-row write that is alone in its implicit transaction (or inside a transaction block) goes
upstream with its Sync at once and is judged after the fact: a stale one has changed no row, so the
proxy holds back the server's ReadyForQuery, makes the server fail a Bind (rolling back, or
aborting the block) and only then lets the client see its error and a ReadyForQuery with the state
an error leaves. Nothing the client pipelined behind the write may reach the server before that.
Writes that share their implicit transaction with other statements are judged before the Sync.
"""

import pgwire
from rules_support import guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

ACCOUNTS = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) SELECT g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE ledger (id serial PRIMARY KEY, account_id int, amount int NOT NULL);
"""
TRACK_RULES = rules_text(table_rule("accounts"))
CLIENT_RULES = rules_text(table_rule("accounts", mode="client"))
INT4 = 23


def tags(messages):
    return [tag.decode() for tag, _ in messages]


def read_until_ready_count(conn, count):
    """Every message up to and including the count-th ReadyForQuery."""
    messages = []
    for _ in range(count):
        messages += conn.read_until_ready()
    return messages


def ready_states(messages):
    return [payload.decode() for tag, payload in messages if tag == b"Z"]


def sqlstates(messages):
    return [fields["C"] for fields in pgwire.errors_in(messages)]


def account(db, key):
    return db.rows("SELECT balance, version FROM accounts WHERE id = %s", (key,))[0]


def ledger_rows(db):
    return db.rows("SELECT count(*) FROM ledger")[0][0]


def read_then_overtaken(db, conn, key, begin=False):
    """conn reads row `key` (in a new block when begin), then another session changes it."""
    if begin:
        assert ready_states(conn.simple_query("BEGIN")) == ["T"]
    messages = conn.simple_query(f"SELECT balance FROM accounts WHERE id = {key}")
    assert pgwire.data_rows(messages) == [[str(key * 100)]], messages
    other = db.connect()
    with other.cursor() as cur:
        cur.execute("SELECT balance FROM accounts WHERE id = %s", (key,))
        cur.execute("UPDATE accounts SET balance = 7 WHERE id = %s", (key,))
    assert account(db, key) == (7, 2)


def prepared_update(key, balance=80):
    return (pgwire.parse("", "UPDATE accounts SET balance = $2 WHERE id = $1", (INT4, INT4))
            + pgwire.bind("", [str(key).encode(), str(balance).encode()]) + pgwire.execute() + pgwire.SYNC)


# --- simple Query -------------------------------------------------------------------------------

def test_stale_query_in_autocommit_gets_the_error_and_an_idle_ready(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 1)
        messages = conn.simple_query("UPDATE accounts SET balance = 80 WHERE id = 1")
        assert tags(messages) == ["E", "Z"], messages
        assert sqlstates(messages) == ["40001"]
        assert ready_states(messages) == ["I"]
        assert account(db, 1) == (7, 2)
        # The session goes on, and its next read and write are fresh.
        assert tags(conn.simple_query("SELECT balance FROM accounts WHERE id = 1")) == ["T", "D", "C", "Z"]
        messages = conn.simple_query("UPDATE accounts SET balance = 80 WHERE id = 1")
        assert tags(messages) == ["C", "Z"] and messages[0][1] == b"UPDATE 1\0", messages
    assert account(db, 1) == (80, 3)


def test_stale_query_in_a_block_leaves_it_failed(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 1, begin=True)
        assert ready_states(conn.simple_query("INSERT INTO ledger (account_id, amount) VALUES (1, 5)")) == ["T"]
        messages = conn.simple_query("UPDATE accounts SET balance = 80 WHERE id = 1")
        assert tags(messages) == ["E", "Z"], messages
        assert sqlstates(messages) == ["40001"]
        assert ready_states(messages) == ["E"]
        messages = conn.simple_query("SELECT 1")
        assert sqlstates(messages) == ["25P02"] and ready_states(messages) == ["E"], messages
        messages = conn.simple_query("COMMIT")
        assert messages[0] == (b"C", b"ROLLBACK\0") and ready_states(messages) == ["I"], messages
    assert account(db, 1) == (7, 2)
    assert ledger_rows(db) == 0


def test_queries_pipelined_behind_a_stale_write_run_in_the_failed_block(guarded):
    """UPDATE, INSERT and COMMIT sent in one go: the INSERT must meet the aborted block (25P02)
    and the COMMIT roll back, exactly as if the server had raised the error itself."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 1, begin=True)
        conn.send(pgwire.query("UPDATE accounts SET balance = 80 WHERE id = 1")
                  + pgwire.query("INSERT INTO ledger (account_id, amount) VALUES (1, 5)")
                  + pgwire.query("COMMIT"))
        messages = read_until_ready_count(conn, 3)
        assert tags(messages) == ["E", "Z", "E", "Z", "C", "Z"], messages
        assert sqlstates(messages) == ["40001", "25P02"]
        assert ready_states(messages) == ["E", "E", "I"]
        assert messages[4] == (b"C", b"ROLLBACK\0")
    assert account(db, 1) == (7, 2)
    assert ledger_rows(db) == 0


# --- extended protocol ----------------------------------------------------------------------------

def test_stale_prepared_write_in_autocommit(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 2)
        conn.send(prepared_update(2))
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "E", "Z"], messages
        assert sqlstates(messages) == ["40001"] and ready_states(messages) == ["I"]
        assert account(db, 2) == (7, 2)
        # Read again: the same prepared write now goes through and answers as PostgreSQL would.
        conn.simple_query("SELECT balance FROM accounts WHERE id = 2")
        conn.send(prepared_update(2))
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "C", "Z"] and messages[2][1] == b"UPDATE 1\0", messages
    assert account(db, 2) == (80, 3)


def test_sync_groups_pipelined_behind_a_stale_write_in_a_block(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 2, begin=True)
        conn.send(prepared_update(2)
                  + pgwire.parse("", "INSERT INTO ledger (account_id, amount) VALUES (2, 5)")
                  + pgwire.bind("", []) + pgwire.execute() + pgwire.SYNC
                  + pgwire.query("COMMIT"))
        messages = read_until_ready_count(conn, 3)
        assert tags(messages) == ["1", "2", "E", "Z", "E", "Z", "C", "Z"], messages
        assert sqlstates(messages) == ["40001", "25P02"]
        assert ready_states(messages) == ["E", "E", "I"]
    assert account(db, 2) == (7, 2)
    assert ledger_rows(db) == 0


def test_stale_write_sharing_its_implicit_transaction_rolls_back_the_statements_before_it(guarded):
    """INSERT then the stale UPDATE before one Sync: one implicit transaction, so the INSERT must
    not survive the UPDATE's failure (the verdict has to come before the Sync here)."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 3)
        conn.send(pgwire.parse("ins", "INSERT INTO ledger (account_id, amount) VALUES (3, 5)")
                  + pgwire.bind("ins", []) + pgwire.execute()
                  + pgwire.parse("upd", "UPDATE accounts SET balance = $2 WHERE id = $1", (INT4, INT4))
                  + pgwire.bind("upd", [b"3", b"80"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "C", "1", "2", "E", "Z"], messages
        assert sqlstates(messages) == ["40001"] and ready_states(messages) == ["I"]
    assert account(db, 3) == (7, 2)
    assert ledger_rows(db) == 0


def test_client_mode_stale_write_in_a_block(guarded):
    """mode: client (the client states the version it read) takes the same one-round-trip path."""
    db = guarded(CLIENT_RULES, ACCOUNTS)
    db.execute_direct("UPDATE accounts SET balance = 7, version = 2 WHERE id = 4")
    with db.raw() as conn:
        assert ready_states(conn.simple_query("BEGIN")) == ["T"]
        conn.send(pgwire.parse("", "UPDATE accounts SET balance = 80 WHERE id = $1 AND version = $2", (INT4, INT4))
                  + pgwire.bind("", [b"4", b"1"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "E", "Z"], messages
        assert sqlstates(messages) == ["40001"] and ready_states(messages) == ["E"]
        messages = conn.simple_query("ROLLBACK")
        assert ready_states(messages) == ["I"]
        # With the current version the write passes, bumped by staleguard.
        conn.send(pgwire.parse("", "UPDATE accounts SET balance = 80 WHERE id = $1 AND version = $2", (INT4, INT4))
                  + pgwire.bind("", [b"4", b"2"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "C", "Z"], messages
    assert account(db, 4) == (80, 3)


def test_write_batched_behind_begin_like_pgjdbc(guarded):
    """pgjdbc with autocommit off sends BEGIN through the unnamed statement in the same batch as
    the write: the write runs in the block BEGIN opens, so a stale one aborts the block."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    begin_then_update = (pgwire.parse("", "BEGIN") + pgwire.bind("", []) + pgwire.execute()
                         + pgwire.parse("", "UPDATE accounts SET balance = $2 WHERE id = $1", (INT4, INT4))
                         + pgwire.bind("", [b"5", b"80"]) + pgwire.message(b"D", b"P\0") + pgwire.execute()
                         + pgwire.SYNC)
    with db.raw() as conn:
        read_then_overtaken(db, conn, 5)
        conn.send(begin_then_update)
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "C", "1", "2", "n", "E", "Z"], messages
        assert sqlstates(messages) == ["40001"] and ready_states(messages) == ["E"]
        assert sqlstates(conn.simple_query("SELECT 1")) == ["25P02"]
        assert ready_states(conn.simple_query("ROLLBACK")) == ["I"]
        # Read again: the same batch commits once the block is committed.
        conn.simple_query("SELECT balance FROM accounts WHERE id = 5")
        conn.send(begin_then_update)
        messages = conn.read_until_ready()
        assert tags(messages) == ["1", "2", "C", "1", "2", "n", "C", "Z"], messages
        assert ready_states(messages) == ["T"]
        assert ready_states(conn.simple_query("COMMIT")) == ["I"]
    assert account(db, 5) == (80, 3)


# --- a row limit on a checked write -------------------------------------------------------------

def returning_update_in_parts(keys):
    """A keyed UPDATE ... RETURNING of `keys`, executed with a limit of one row, as pgjdbc runs
    executeQuery() under a fetch size in a transaction."""
    array = ("{" + ",".join(str(k) for k in keys) + "}").encode()
    return (pgwire.parse("", "UPDATE accounts SET balance = 3 WHERE id = ANY($1) RETURNING id, balance")
            + pgwire.bind("", [array]) + pgwire.execute("", max_rows=1) + pgwire.SYNC)


def test_a_multi_row_write_fetched_in_parts_is_still_all_or_nothing(guarded):
    # Found by black-box testing: the stale row was skipped, the other written, and with the
    # portal closed after its first row no error came.
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        assert ready_states(conn.simple_query("SELECT balance FROM accounts WHERE id IN (1, 2)")) == ["I"]
        other = db.connect()
        with other.cursor() as cur:
            cur.execute("UPDATE accounts SET balance = 7 WHERE id = 2")
        conn.send(returning_update_in_parts([1, 2]))
        messages = conn.read_until_ready()
        assert sqlstates(messages) == ["40001"], messages
        assert "s" not in tags(messages)  # no PortalSuspended: the write's verdict came at once
    assert account(db, 1) == (100, 1) and account(db, 2) == (7, 2)


def test_a_fresh_write_whose_parts_are_asked_for_at_once_is_judged_once(guarded):
    # Found in review: the second Execute of the portal, run to its end by the first, got no rows
    # and was judged again, a false 40001.
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        assert ready_states(conn.simple_query("BEGIN")) == ["T"]
        conn.simple_query("SELECT balance FROM accounts WHERE id IN (3, 4)")
        conn.send(pgwire.parse("", "UPDATE accounts SET balance = 3 WHERE id = ANY($1) RETURNING id, balance")
                  + pgwire.bind("", [b"{3,4}"]) + pgwire.execute("", max_rows=1) + pgwire.execute("", max_rows=1)
                  + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert sqlstates(messages) == [], messages
        assert sorted(pgwire.data_rows(messages)) == [["3", "3"], ["4", "3"]]
        assert ready_states(conn.simple_query("COMMIT")) == ["I"]
    assert account(db, 3) == (3, 2) and account(db, 4) == (3, 2)


def test_a_fresh_write_fetched_in_parts_gets_every_row_at_once(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)
    with db.raw() as conn:
        assert ready_states(conn.simple_query("BEGIN")) == ["T"]
        conn.simple_query("SELECT balance FROM accounts WHERE id IN (3, 4)")
        conn.send(returning_update_in_parts([3, 4]))
        messages = conn.read_until_ready()
        assert sqlstates(messages) == [], messages
        assert sorted(pgwire.data_rows(messages)) == [["3", "3"], ["4", "3"]]
        assert [payload for tag, payload in messages if tag == b"C"] == [b"UPDATE 2\0"]
        assert ready_states(conn.simple_query("COMMIT")) == ["I"]
    assert account(db, 3) == (3, 2) and account(db, 4) == (3, 2)


# --- what a statement name means -----------------------------------------------------------------

def test_a_parse_or_close_the_server_refuses_or_skips_changes_nothing(guarded):
    # Found by black-box testing: staleguard took a refused Parse (42P05) or a Close skipped after
    # an error for done, so the statement's next Bind failed (08P01, wrong parameter count) or
    # its hidden columns reached the client.
    db = guarded(TRACK_RULES, ACCOUNTS)
    failing = pgwire.parse("", "SELECT 1 / 0") + pgwire.bind("", []) + pgwire.execute()
    with db.raw() as conn:
        conn.send(pgwire.parse("u", "UPDATE accounts SET balance = $2 WHERE id = $1", (INT4, INT4)) + pgwire.SYNC)
        assert sqlstates(conn.read_until_ready()) == []
        conn.send(pgwire.parse("u", "SELECT balance FROM accounts WHERE id = $1", (INT4,)) + pgwire.SYNC)
        assert sqlstates(conn.read_until_ready()) == ["42P05"]
        conn.send(pgwire.bind("u", [b"1", b"5"]) + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert sqlstates(messages) == [] and tags(messages) == ["2", "C", "Z"], messages

        conn.send(pgwire.parse("q", "SELECT * FROM accounts WHERE id = $1", (INT4,)) + pgwire.SYNC)
        assert sqlstates(conn.read_until_ready()) == []
        conn.send(failing + pgwire.close_statement("q") + pgwire.SYNC)
        assert sqlstates(conn.read_until_ready()) == ["22012"]
        conn.send(pgwire.bind("q", [b"2"]) + pgwire.describe_portal() + pgwire.execute() + pgwire.SYNC)
        messages = conn.read_until_ready()
        assert sqlstates(messages) == [], messages
        assert pgwire.data_rows(messages) == [["2", "200", "1"]], "the hidden columns stay hidden"
    assert account(db, 1) == (5, 2)
