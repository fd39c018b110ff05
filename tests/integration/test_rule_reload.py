"""SIGHUP reloads the rule file: new statements follow the new rules, in open sessions too; a broken
file keeps the rules in force and logs each problem with its position; a broken file at start
refuses to start."""

import re
import signal

import psycopg2
import pytest

from rules_support import (  # noqa: F401 (guarded is a fixture)
    expect_error, guarded, rule_file, rules_text, run_staleguard, table_rule)
from support import free_port, wait_until

ACCOUNTS = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    CREATE TABLE other (id int PRIMARY KEY, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) SELECT g, g FROM generate_series(1, 3) g;
"""
RULES_A = rules_text(table_rule("accounts", mode="client"))
RULES_B = rules_text(table_rule("other", mode="client"))
BROKEN = """\
tables:
  - name: accounts
    mode: optimistic
    kind: counter
  - name: other
    watch: [a]
    ignore: [b]
"""
STALE = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 9"


def run(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.statusmessage


def reload(proxy, outcome):
    """Sends SIGHUP and waits for the log line that reports how the reload ended."""
    before = proxy.log().count(outcome)
    proxy.process.send_signal(signal.SIGHUP)
    wait_until(lambda: proxy.log().count(outcome) > before, 15, what=f"'{outcome}' after SIGHUP")


def test_reload_to_rules_without_the_table(guarded):
    db = guarded(RULES_A, ACCOUNTS)
    open_session = db.connect()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(open_session, STALE)
    expect_error(excinfo, "40001")

    db.rules_path.write_text(RULES_B)
    reload(db.proxy, "rules loaded from")
    for conn in (open_session, db.connect()):
        assert run(conn, STALE) == "UPDATE 0"
        assert run(conn, "UPDATE accounts SET balance = 5 WHERE id = 2") == "UPDATE 1"
    assert db.rows("SELECT version FROM accounts WHERE id = 2") == [(1,)]
    assert db.proxy.alive()

    db.rules_path.write_text(RULES_A)
    reload(db.proxy, "rules loaded from")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(open_session, STALE)
    expect_error(excinfo, "40001")
    assert run(open_session, "UPDATE accounts SET balance = 6 WHERE id = 2 AND version = 1") == "UPDATE 1"
    assert db.rows("SELECT version FROM accounts WHERE id = 2") == [(2,)]


def test_reload_inside_an_open_transaction(guarded):
    db = guarded(RULES_A, ACCOUNTS)
    conn = db.connect()
    run(conn, "BEGIN")
    run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1")
    db.rules_path.write_text(RULES_B)
    reload(db.proxy, "rules loaded from")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 2 AND version = 9") == "UPDATE 0"
    run(conn, "COMMIT")
    assert db.rows("SELECT id, version FROM accounts ORDER BY id") == [(1, 2), (2, 1), (3, 1)]


def test_broken_file_keeps_the_rules_in_force(guarded):
    db = guarded(RULES_A, ACCOUNTS)
    proxy = db.proxy
    path = str(db.rules_path)
    proxy.allow_log(re.escape(path) + r":(\d+:\d+:)? ")
    proxy.allow_log(r"rule file .* refused")
    conn = db.connect()

    db.rules_path.write_text(BROKEN)
    reload(proxy, "refused")
    log = proxy.log()
    assert re.search(re.escape(path) + r":3:11: unknown mode value 'optimistic'", log), log
    assert re.search(re.escape(path) + r":7:5: 'watch' and 'ignore' cannot be used together", log), log
    error_lines = [line for line in log.splitlines() if re.match(r"^\S+ \S+ error\b", line)]
    assert len(error_lines) == 3, error_lines  # two problems and the summary
    assert proxy.alive()

    # The old rules stay, for open and new sessions.
    for session in (conn, db.connect()):
        with pytest.raises(psycopg2.Error) as excinfo:
            run(session, STALE)
        expect_error(excinfo, "40001")
    assert run(conn, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1") == "UPDATE 1"
    assert db.rows("SELECT version FROM accounts WHERE id = 1") == [(2,)]

    # A file that is gone is refused the same way.
    db.rules_path.unlink()
    reload(proxy, "refused")
    assert "cannot open rule file" in proxy.log()
    with pytest.raises(psycopg2.Error) as excinfo:
        run(conn, STALE)
    expect_error(excinfo, "40001")

    # And a good file afterwards is taken.
    db.rules_path.write_text(RULES_B)
    reload(proxy, "rules loaded from")
    assert run(conn, STALE) == "UPDATE 0"


def test_bad_rule_file_at_start(pg, tmp_path):
    path = rule_file(tmp_path, BROKEN, name="broken.yaml")
    result = run_staleguard("--listen", f"127.0.0.1:{free_port()}", "--upstream", pg.address,
                            "--rules", str(path), timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}:3:11: unknown mode value 'optimistic'; valid values: track, client, increment" in result.stderr
    assert f"{path}:7:5: 'watch' and 'ignore' cannot be used together" in result.stderr
    assert "listening" not in result.stderr + result.stdout


def test_yaml_syntax_error_at_start(pg, tmp_path):
    path = rule_file(tmp_path, "tables:\n  - name: [accounts\n", name="syntax.yaml")
    result = run_staleguard("--listen", f"127.0.0.1:{free_port()}", "--upstream", pg.address,
                            "--rules", str(path), timeout=30)
    assert result.returncode == 1
    assert re.search(re.escape(str(path)) + r":\d+:\d+: ", result.stderr), result.stderr
