"""The admin console: database "staleguard" as a role named in --admin-users, password checked by
PostgreSQL through the relay; SHOW STATS/SESSIONS/RULES/VERSION print as psql tables, RELOAD does what
SIGHUP does; anyone else gets 28000, a wrong password 28P01, the extended protocol 0A000."""

import os
import subprocess

import psycopg
import psycopg2
import pytest

import pgwire
from rules_support import guarded, rules_text, run_staleguard, table_rule  # noqa: F401 (guarded is a fixture)
from support import free_port

SETUP = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) SELECT g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE counters (id int PRIMARY KEY, hits int NOT NULL, version int NOT NULL DEFAULT 1);
"""
RULES = rules_text(table_rule("accounts"))
MORE_RULES = rules_text(table_rule("accounts"), table_rule("counters", mode="increment", unread="reject"))
BROKEN_RULES = "tables:\n  - name: accounts\n    mode: sometimes\n"


@pytest.fixture
def console(pg, guarded):
    """A fresh database with the tables above, a staleguard with --rules, --admin-users (the SCRAM
    role) and --metrics, and helpers to run console commands through psql."""
    metrics_port = free_port()
    guarded_db = guarded(RULES, SETUP, extra=("--admin-users", f"{pg.scram_user},someone_else",
                                              "--metrics", f"127.0.0.1:{metrics_port}"))
    db, proxy, rules = guarded_db.db, guarded_db.proxy, guarded_db.rules_path

    class Console:
        pass

    c = Console()
    c.db, c.proxy, c.rules, c.admin = db, proxy, rules, pg.scram_user
    c.metrics_port = metrics_port

    def psql(*commands, user=None, password=None, expect_ok=True):
        user = user or pg.scram_user
        env = dict(os.environ, PGCONNECT_TIMEOUT="10", PGSSLMODE="disable", LC_ALL="C.UTF-8",
                   PGPASSWORD=password if password is not None else (pg.password_of(user) or ""))
        args = [pg.tool("psql"), "-X", "-v", "VERBOSITY=verbose", "-h", proxy.host, "-p", str(proxy.port),
                "-U", user, "-d", "staleguard"]
        for command in commands:
            args += ["-c", command]
        result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        if expect_ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    c.psql = psql
    return c


def table_of(text):
    """psql's aligned output (one table) -> list of {column: value} (values stripped)."""
    lines = [line for line in text.splitlines()]
    for i, line in enumerate(lines):
        if i > 0 and set(line) <= set("-+") and "-" in line:
            header = [h.strip() for h in lines[i - 1].split("|")]
            rows = []
            for row_line in lines[i + 1:]:
                if row_line.startswith("(") and row_line.endswith(")"):
                    return rows
                rows.append(dict(zip(header, [v.strip() for v in row_line.split("|")])))
            return rows
    raise AssertionError(f"no table in:\n{text}")


def tables_of(text):
    """Every table psql printed, in order (separated by their row-count footers)."""
    out, chunk = [], []
    for line in text.splitlines():
        chunk.append(line)
        if line.startswith("(") and line.endswith(("row)", "rows)")):
            out.append(table_of("\n".join(chunk)))
            chunk = []
    return out


def test_show_commands_print_tables(console, pg):
    app = console.proxy.connect(dbname=console.db)
    with app.cursor() as cur:
        cur.execute("SELECT id, balance FROM accounts WHERE id IN (1, 2)")
        assert len(cur.fetchall()) == 2

    sessions = table_of(console.psql("SHOW SESSIONS").stdout)
    assert list(sessions[0]) == ["id", "client_addr", "user", "database", "tls", "state", "connected_since",
                                 "bytes_in", "bytes_out", "statements", "tracked_rows"]
    mine = [row for row in sessions if row["database"] == console.db]
    assert len(mine) == 1, sessions
    assert mine[0]["user"] == pg.admin_user
    assert mine[0]["state"] == "idle"
    assert mine[0]["tls"] == "no"
    assert int(mine[0]["statements"]) == 1
    assert int(mine[0]["tracked_rows"]) == 2
    assert int(mine[0]["bytes_in"]) > 0 and int(mine[0]["bytes_out"]) > 0
    assert mine[0]["connected_since"].endswith("+00")
    admin_rows = [row for row in sessions if row["database"] == "staleguard"]
    assert [row["user"] for row in admin_rows] == [console.admin]

    rules = table_of(console.psql("show rules;").stdout)
    assert [row["table"] for row in rules] == ["public.accounts"]
    assert rules[0]["mode"] == "track" and rules[0]["key"] == "id" and rules[0]["version_column"] == "version"

    version = table_of(console.psql("  Show   Version ").stdout)
    assert version == [{"version": run_staleguard("--version").stdout.strip()}]

    stats = table_of(console.psql("SHOW STATS").stdout)
    by_series = {(row["metric"], row["labels"]): row["value"] for row in stats}
    assert by_series[("staleguard_sessions_open", "")] == "1"
    assert by_series[("staleguard_statements_total", 'outcome="tracked"')] == "1"
    # The same numbers as /metrics.
    scraped = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{console.metrics_port}/metrics"],
                             capture_output=True, text=True).stdout
    assert 'staleguard_statements_total{outcome="tracked"} 1' in scraped.splitlines()
    app.close()


def test_several_commands_in_one_query_and_errors(console):
    result = console.psql("SHOW VERSION; SHOW RULES")
    tables = tables_of(result.stdout)
    assert len(tables) == 2, result.stdout
    assert list(tables[0][0]) == ["version"]
    assert tables[1][0]["table"] == "public.accounts"

    with pgwire.RawConnection(console.proxy.host, console.proxy.port) as raw:
        messages = raw.startup(console.admin, "staleguard", password=console.proxy.pg.password_of(console.admin))
        assert pgwire.errors_in(messages) == []
        # Every statement answered in order, one ReadyForQuery at the end.
        reply = raw.simple_query("show version;show rules;")
        assert [tag for tag, _ in reply].count(b"C") == 2
        assert reply[-1][0] == b"Z"
        # One unknown command refuses the whole string: no rows at all.
        reply = raw.simple_query("SHOW VERSION; SHOW POOLS")
        assert pgwire.data_rows(reply) == []
        errors = pgwire.errors_in(reply)
        assert [e["C"] for e in errors] == ["42601"]
        assert "SHOW STATS, SHOW SESSIONS, SHOW RULES, SHOW VERSION, RELOAD" in errors[0]["H"]
        reply = raw.simple_query("")
        assert [tag for tag, _ in reply] == [b"I", b"Z"]
        reply = raw.simple_query(" ; ")
        assert [tag for tag, _ in reply] == [b"I", b"Z"]
        raw.send(pgwire.TERMINATE)

    result = console.psql("SHOW PEOPLE", expect_ok=False)
    assert "ERROR:  42601: unrecognized admin console command" in result.stderr


def test_reload_changes_rules_and_a_broken_file_keeps_them(console):
    console.proxy.allow_log(r"rule file .* refused|rules\.yaml:\d+:\d+")
    console.rules.write_text(MORE_RULES)
    result = console.psql("RELOAD")
    assert result.stdout.strip() == "RELOAD"
    rules = table_of(console.psql("SHOW RULES").stdout)
    assert [row["table"] for row in rules] == ["public.accounts", "public.counters"]
    assert rules[1]["mode"] == "increment" and rules[1]["unread"] == "reject"
    assert "generation 2" in console.psql("SHOW RULES").stderr

    # The new rules apply: an increment-mode write gets its version bumped.
    app = console.proxy.connect(dbname=console.db)
    with app.cursor() as cur:
        cur.execute("INSERT INTO counters VALUES (1, 0)")
        cur.execute("UPDATE counters SET hits = hits + 1 WHERE id = 1")
    app.close()
    direct = console.proxy.pg.connect_direct(dbname=console.db)
    with direct.cursor() as cur:
        cur.execute("SELECT version FROM counters WHERE id = 1")
        assert cur.fetchone()[0] == 2
    direct.close()

    console.rules.write_text(BROKEN_RULES)
    result = console.psql("RELOAD", expect_ok=False)
    assert result.returncode != 0
    assert "ERROR:  F0000: rule file" in result.stderr and "refused (1 problem(s))" in result.stderr
    assert f"DETAIL:  {console.rules}:3:11:" in result.stderr, result.stderr
    rules = table_of(console.psql("SHOW RULES").stdout)
    assert [row["table"] for row in rules] == ["public.accounts", "public.counters"]

    stats = table_of(console.psql("SHOW STATS").stdout)
    by_series = {(row["metric"], row["labels"]): row["value"] for row in stats}
    assert by_series[("staleguard_rule_reloads_total", 'result="ok"')] == "1"
    assert by_series[("staleguard_rule_reloads_total", 'result="failed"')] == "1"


def test_non_admin_gets_28000_and_wrong_password_28P01(console, pg):
    console.proxy.allow_log(r"admin console refused")
    for user in (pg.md5_user, pg.admin_user):
        with pgwire.RawConnection(console.proxy.host, console.proxy.port) as raw:
            messages = raw.startup(user, "staleguard", password=pg.password_of(user))
            errors = pgwire.errors_in(messages)
            assert [(e["S"], e["C"]) for e in errors] == [("FATAL", "28000")], messages
            assert errors[0]["M"] == f'no such user in --admin-users: "{user}"'
            assert raw.read_until_closed() == []
    # Listed, but PostgreSQL decides the password.
    with pgwire.RawConnection(console.proxy.host, console.proxy.port) as raw:
        messages = raw.startup(console.admin, "staleguard", password="not the password")
        errors = pgwire.errors_in(messages)
        assert [e["C"] for e in errors] == ["28P01"], messages
    with pytest.raises(psycopg2.OperationalError) as excinfo:
        console.proxy.connect(user=console.admin, password="wrong", dbname="staleguard")
    assert "password authentication failed" in str(excinfo.value)
    result = console.psql("SHOW VERSION", user=pg.md5_user, expect_ok=False)
    assert 'no such user in --admin-users: "' + pg.md5_user + '"' in result.stderr


def test_extended_protocol_is_refused_and_the_connection_stays_usable(console, pg):
    conn = psycopg.connect(host=console.proxy.host, port=console.proxy.port, dbname="staleguard",
                           user=console.admin, password=pg.password_of(console.admin), autocommit=True,
                           sslmode="disable", connect_timeout=10)
    # Prepared, with parameters, with binary results: psycopg 3 sends Parse/Bind/Describe/Execute/Sync.
    with pytest.raises(psycopg.errors.FeatureNotSupported) as excinfo:
        conn.execute("SHOW VERSION", prepare=True)
    assert excinfo.value.sqlstate == "0A000"
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute("SHOW VERSION -- %s", [1])
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.cursor(binary=True).execute("SHOW VERSION")
    # A simple Query on the same connection still works (psycopg 3 sends one without parameters).
    assert conn.execute("SHOW VERSION").fetchone()[0].startswith("staleguard ")
    result = conn.pgconn.exec_(b"SHOW VERSION")
    assert result.status == psycopg.pq.ExecStatus.TUPLES_OK
    assert result.get_value(0, 0).decode().startswith("staleguard ")
    conn.close()

    # psycopg2 uses the simple protocol: it just works.
    conn2 = console.proxy.connect(user=console.admin, dbname="staleguard")
    with conn2.cursor() as cur:
        cur.execute("SHOW RULES")
        assert [row[0] for row in cur.fetchall()] == ["public.accounts"]
        cur.execute("SHOW SESSIONS")
        assert len(cur.fetchall()) >= 1
    conn2.close()


def test_admin_console_without_admin_users_refuses_everyone(pg, proxy_factory):
    proxy = proxy_factory()
    proxy.allow_log(r"admin console refused")
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.scram_user, "staleguard", password=pg.password_of(pg.scram_user))
        assert [e["C"] for e in pgwire.errors_in(messages)] == ["28000"]


def test_admin_users_from_config_file_and_flag_wins(pg, proxy_factory, tmp_path):
    config = tmp_path / "staleguard.yaml"
    config.write_text(f"admin_users: [{pg.md5_user}]\n")
    proxy = proxy_factory("--config", str(config))
    proxy.allow_log(r"admin console refused")
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.md5_user, "staleguard", password=pg.password_of(pg.md5_user))
        assert pgwire.errors_in(messages) == []
        assert pgwire.data_rows(raw.simple_query("SHOW VERSION"))[0][0].startswith("staleguard ")
    flagged = proxy_factory("--config", str(config), "--admin-users", pg.scram_user)
    flagged.allow_log(r"admin console refused")
    with pgwire.RawConnection(*flagged.address) as raw:
        messages = raw.startup(pg.md5_user, "staleguard", password=pg.password_of(pg.md5_user))
        assert [e["C"] for e in pgwire.errors_in(messages)] == ["28000"]
