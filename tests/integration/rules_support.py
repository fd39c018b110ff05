"""Helpers for the rewriting tests: rule files, a fresh database behind a staleguard that enforces
them, and psql runs through the proxy or straight to PostgreSQL."""

import os
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

import pgwire
from support import STALEGUARD_BIN


def rule_file(directory, text, name="rules.yaml"):
    """Writes a rule file (dedented) into directory and returns its path."""
    path = Path(directory) / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def table_rule(name, **options):
    """One `tables:` entry as YAML; list values become flow lists."""
    lines = [f"  - name: {name}"]
    for key, value in options.items():
        key = {"delete_policy": "delete"}.get(key, key)
        if isinstance(value, (list, tuple)):
            value = "[" + ", ".join(value) + "]"
        lines.append(f"    {key}: {value}")
    return "\n".join(lines) + "\n"


def rules_text(*tables, **top):
    """A whole rule file: top-level settings (sqlstate, unanalysable) and the given table entries."""
    out = ""
    for key, value in top.items():
        out += f'{key}: "{value}"\n' if key == "sqlstate" else f"{key}: {value}\n"
    return out + "tables:\n" + "".join(tables)


@dataclass
class PsqlRun:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Guarded:
    """A fresh database with a staleguard in front of it that enforces one rule file."""
    pg: object
    db: str
    proxy: object
    rules_path: Path
    _conns: list = field(default_factory=list)

    def direct(self, autocommit=True, user=None):
        conn = self.pg.connect_direct(user=user, dbname=self.db, autocommit=autocommit)
        self._conns.append(conn)
        return conn

    def connect(self, autocommit=True, user=None, **kwargs):
        """A psycopg2 connection through staleguard."""
        conn = self.proxy.connect(user=user, dbname=self.db, autocommit=autocommit, **kwargs)
        self._conns.append(conn)
        return conn

    def raw(self):
        """A pgwire.RawConnection through staleguard, logged in (the caller closes it)."""
        conn = pgwire.RawConnection(self.proxy.host, self.proxy.port)
        messages = conn.startup(self.pg.admin_user, self.db, password=self.pg.admin_password)
        assert messages[-1][0] == b"Z", messages
        return conn

    def rows(self, sql, params=None):
        """Rows read straight from PostgreSQL (never through the proxy)."""
        conn = self.direct()
        with conn.cursor() as cur:
            cur.execute(sql, params)
            result = cur.fetchall() if cur.description else None
        conn.close()
        self._conns.remove(conn)
        return result

    def execute_direct(self, sql):
        conn = self.direct()
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()
        self._conns.remove(conn)

    def psql(self, script, user=None, direct=False, extra=(), transcript=False):
        """Runs a psql script through staleguard (or straight to PostgreSQL); ON_ERROR_STOP off,
        errors shown with their SQLSTATE."""
        host, port = (self.pg.host, self.pg.port) if direct else (self.proxy.host, self.proxy.port)
        return run_psql(self.pg, host, port, self.db, script, user=user, extra=extra,
                        transcript=transcript)

    def close(self):
        for conn in self._conns:
            try:
                conn.close()
            except psycopg2.Error:
                pass
        self._conns.clear()


def run_psql(pg, host, port, db, script, user=None, extra=(), transcript=False):
    """transcript=True: input echoed (-a) and stderr merged into stdout, in order, as
    test_psql_scripts.py compares them."""
    user = user or pg.admin_user
    env = dict(os.environ, PGCONNECT_TIMEOUT="10", PGSSLMODE="disable", LC_ALL="C.UTF-8",
               PGTZ="UTC", PGDATESTYLE="ISO, MDY")
    password = pg.password_of(user)
    if password:
        env["PGPASSWORD"] = password
    env.pop("PGOPTIONS", None)
    flags = ["-a"] if transcript else ["-q"]
    result = subprocess.run(
        [pg.tool("psql"), "-X", *flags, "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose",
         "-h", host, "-p", str(port), "-U", user, "-d", db, *extra, "-f", "-"],
        input=textwrap.dedent(script), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if transcript else subprocess.PIPE, text=True, env=env, timeout=120)
    return PsqlRun(result.returncode, result.stdout, result.stderr or "")


@pytest.fixture
def guarded(pg, proxy_factory, fresh_db, tmp_path):
    """guarded(rules, setup_sql, extra=flags, upstream=None) -> Guarded: a fresh database set up
    with setup_sql (run straight against PostgreSQL), the rule text in tmp_path, and a staleguard
    started with --rules and any extra flags (and --upstream, when given)."""
    made = []

    def make(rules, setup_sql="", name="rules.yaml", extra=(), upstream=None):
        db = fresh_db()
        guarded_db = Guarded(pg, db, None, rule_file(tmp_path, rules, name))
        made.append(guarded_db)
        if setup_sql.strip():
            guarded_db.execute_direct(textwrap.dedent(setup_sql))
        # --log-statements: tests look for the rewrites in the (debug) log.
        guarded_db.proxy = proxy_factory("--rules", str(guarded_db.rules_path), "--log-statements", *extra,
                                         upstream=upstream)
        return guarded_db

    yield make
    for guarded_db in made:
        guarded_db.close()


def expect_error(excinfo_or_error, sqlstate):
    error = getattr(excinfo_or_error, "value", excinfo_or_error)
    assert error.pgcode == sqlstate, f"expected SQLSTATE {sqlstate}, got {error.pgcode}: {error}"
    return error


# The accounts table the lost-update check below runs on, one row (1, balance 100, version 1).
ONE_ACCOUNT = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) VALUES (1, 100);
"""


def assert_lost_update_refused(db, a, b):
    """Sessions a and b (psycopg2, autocommit) both read account 1; b writes it; a's write must fail
    with 40001 and leave b's row, its version bumped once."""
    for conn in (a, b):
        with conn.cursor() as cur:
            cur.execute("SELECT balance FROM accounts WHERE id = 1")
    with b.cursor() as cur:
        cur.execute("UPDATE accounts SET balance = 200 WHERE id = 1")
        assert cur.rowcount == 1
    with pytest.raises(psycopg2.Error) as stale:
        with a.cursor() as cur:
            cur.execute("UPDATE accounts SET balance = 300 WHERE id = 1")
    expect_error(stale, "40001")
    assert db.rows("SELECT balance, version FROM accounts WHERE id = 1") == [(200, 2)]


def run_staleguard(*args, env=None, timeout=60):
    """The staleguard binary with these arguments, to completion."""
    return subprocess.run([str(STALEGUARD_BIN), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)
