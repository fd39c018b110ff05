"""Track mode with real drivers, each reading then writing through staleguard without knowing about
versions: Django's ORM (two web workers), SQLAlchemy's ORM, psycopg 3 with named prepared statements, pgjdbc across
its prepareThreshold with binary transfer, node-postgres with a named statement, asyncpg binding in binary
without declaring types; and the check that
each of them reads through staleguard exactly what PostgreSQL gives directly (the hidden key and
version columns stripped from text and binary results)."""

import asyncio
import datetime
import decimal
import functools
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg
import psycopg
import psycopg2
import pytest

from rules_support import Guarded, guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)
from support import STALEGUARD_BIN

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
PGJDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java
NODE_PG = "pg@8"

ACCOUNTS = """
    CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL,
                           version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, owner, balance) SELECT g, 'owner ' || g, g * 100 FROM generate_series(1, 5) g;
"""
TRACK_RULES = rules_text(table_rule("accounts"))
STALE_1 = "stale write to public.accounts (id)=(1): row changed since it was read"


def connect3(pg, host, port, dbname, **kwargs):
    """psycopg 3; prepare_threshold=0 prepares every statement (named Parse, then Bind/Execute)."""
    kwargs.setdefault("prepare_threshold", 0)
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(host=host, port=port, dbname=dbname, user=pg.admin_user,
                           password=pg.admin_password, connect_timeout=10, **kwargs)


def proxied3(db, **kwargs):
    conn = connect3(db.pg, db.proxy.host, db.proxy.port, db.db, **kwargs)
    db._conns.append(conn)
    return conn


def account(db, key):
    return db.rows("SELECT balance, version FROM accounts WHERE id = %s", (key,))[0]


# --- client programs ------------------------------------------------------------------------

class JavaClient:
    def __init__(self, classes):
        self.classes = classes

    def run(self, *args, timeout=120):
        result = subprocess.run(
            ["java", "-Duser.timezone=UTC", "-cp", f"{self.classes}:{PGJDBC_JAR}", "TrackJdbc",
             *map(str, args)], capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"TrackJdbc {args[0]} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout.splitlines()


@pytest.fixture(scope="module")
def jdbc(tmp_path_factory):
    """TrackJdbc.java compiled against Debian's pgjdbc, once per module."""
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: install default-jdk-headless (scripts/lib/packages.sh)")
    if not PGJDBC_JAR.exists():
        pytest.fail(f"{PGJDBC_JAR} not found: install libpostgresql-jdbc-java (scripts/lib/packages.sh)")
    classes = tmp_path_factory.mktemp("jdbc-classes")
    result = subprocess.run(["javac", "-Xlint:all", "-Werror", "-cp", str(PGJDBC_JAR), "-d", str(classes),
                             str(CLIENTS_DIR / "TrackJdbc.java")], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return JavaClient(classes)


class NodeClient:
    def __init__(self, modules):
        self.modules = modules

    def run(self, job, timeout=120):
        env = dict(os.environ, NODE_PATH=str(self.modules))
        result = subprocess.run(["node", str(CLIENTS_DIR / "track_pg.js")], input=json.dumps(job),
                                capture_output=True, text=True, env=env, timeout=timeout)
        assert result.returncode == 0, f"track_pg.js {job['mode']} failed:\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def node_pg():
    """node-postgres installed with npm into a cache next to the staleguard binary (the build
    directory), once; later runs reuse it."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: node-postgres tests need Node.js and npm")
    cache = Path(os.environ.get("STALEGUARD_TEST_NODE_CACHE", STALEGUARD_BIN.parent / "test-clients" / "node"))
    modules = cache / "node_modules"
    if not (modules / "pg" / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(cache),
                                 NODE_PG], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"npm install {NODE_PG} failed:\n{result.stdout}\n{result.stderr}"
    return NodeClient(modules)


def node_conn(pg, host, port, db):
    return {"host": host, "port": port, "database": db, "user": pg.admin_user, "password": pg.admin_password}


# --- Django ---------------------------------------------------------------------------------

def use_django_databases(databases):
    """Django is configured once per process; later calls swap the database settings."""
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(DATABASES=databases, INSTALLED_APPS=[], USE_TZ=True, TIME_ZONE="UTC",
                           DEFAULT_AUTO_FIELD="django.db.models.AutoField")
        django.setup()
        return
    from asgiref.local import Local
    from django.db import connections
    connections.close_all()
    settings.DATABASES = databases
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


@functools.lru_cache(maxsize=None)
def django_account_model():
    """An ordinary model over the existing table: `version` is a plain IntegerField, no
    concurrency plugin; the ORM knows nothing about optimistic locking."""
    from django.db import models

    class Account(models.Model):
        owner = models.TextField()
        balance = models.IntegerField()
        version = models.IntegerField()

        class Meta:
            app_label = "staleguard_track_tests"
            db_table = "accounts"
            managed = False

    return Account


def test_django_two_workers(guarded, pg):
    db = guarded(TRACK_RULES, ACCOUNTS)
    alias_settings = {
        "ENGINE": "django.db.backends.postgresql", "NAME": db.db, "USER": pg.admin_user,
        "PASSWORD": pg.admin_password, "HOST": db.proxy.host, "PORT": str(db.proxy.port),
        "OPTIONS": {"sslmode": "disable"},
    }
    # Two web workers: two aliases, two connections, two staleguard sessions.
    use_django_databases({"default": dict(alias_settings), "other": dict(alias_settings)})
    import django.db
    from django.db import connections
    Account = django_account_model()
    try:
        a = Account.objects.using("default").get(pk=1)
        b = Account.objects.using("other").get(pk=1)
        assert (a.balance, a.version) == (b.balance, b.version) == (100, 1)
        a.balance = 150
        a.save()
        b.balance = 80
        # Django's save() is UPDATE, then INSERT when the UPDATE matched no row: the error must
        # come from the UPDATE so that the INSERT never runs.
        with pytest.raises(django.db.Error) as excinfo:
            b.save()
        cause = excinfo.value.__cause__
        assert getattr(cause, "pgcode", None) == "40001", repr(excinfo.value)
        assert STALE_1 in str(excinfo.value)
        assert db.rows("SELECT id, owner, balance, version FROM accounts WHERE id = 1") == [(1, "owner 1", 150, 2)]
        assert db.rows("SELECT count(*) FROM accounts") == [(5,)]
        # Worker B reloads and saves; then worker A's copy is the stale one.
        b.refresh_from_db()
        assert b.balance == 150
        b.balance = 80
        b.save()
        a.balance = 1
        with pytest.raises(django.db.Error) as excinfo:
            a.save()
        assert getattr(excinfo.value.__cause__, "pgcode", None) == "40001"
        # A queryset update by key is checked too.
        with pytest.raises(django.db.Error) as excinfo:
            Account.objects.using("default").filter(pk=1).update(balance=2)
        assert getattr(excinfo.value.__cause__, "pgcode", None) == "40001"
        assert db.rows("SELECT id, balance, version FROM accounts WHERE id = 1") == [(1, 80, 3)]
        assert db.rows("SELECT count(*) FROM accounts") == [(5,)]
        # A row neither worker loaded (unread: allow) saves.
        c = Account(pk=2, owner="owner 2", balance=7, version=1)
        c.save(using="default")
        assert db.rows("SELECT balance, version FROM accounts WHERE id = 2") == [(7, 2)]
    finally:
        connections.close_all()


# --- SQLAlchemy -----------------------------------------------------------------------------

def sqlalchemy_accounts():
    """The ORM classes for `accounts` (version mapped as a plain column, not as version_id_col)
    and `entries` (its rows, for joined eager loads)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import declarative_base, relationship

    Base = declarative_base()

    class Entry(Base):
        __tablename__ = "entries"
        id = sa.Column(sa.Integer, primary_key=True)
        account_id = sa.Column(sa.Integer, sa.ForeignKey("accounts.id"))
        amount = sa.Column(sa.Integer, nullable=False)

    class Account(Base):
        __tablename__ = "accounts"
        id = sa.Column(sa.Integer, primary_key=True)
        owner = sa.Column(sa.Text, nullable=False)
        balance = sa.Column(sa.Integer, nullable=False)
        version = sa.Column(sa.Integer, nullable=False)
        entries = relationship(Entry, lazy="raise")

    return Account, Entry


def sqlalchemy_commit_refused_as_stale(session):
    """The session's commit raises the stale-write error for row 1; the session is rolled back."""
    import sqlalchemy as sa

    with pytest.raises(sa.exc.DBAPIError) as excinfo:
        session.commit()
    assert excinfo.value.orig.pgcode == "40001"
    assert STALE_1 in str(excinfo.value.orig)
    session.rollback()


def sqlalchemy_engines(db, pg):
    """Two engines through the proxy: two processes' connection pools."""
    import sqlalchemy as sa

    url = sa.engine.URL.create("postgresql+psycopg2", username=pg.admin_user, password=pg.admin_password,
                               host=db.proxy.host, port=db.proxy.port, database=db.db)
    return [sa.create_engine(url, future=True), sa.create_engine(url, future=True)]


def test_sqlalchemy_orm_without_version_id_col(guarded, pg):
    """SQLAlchemy's ORM (Debian's python3-sqlalchemy over psycopg2) with the version column
    mapped as a plain column, not as version_id_col: two sessions from two engines (two
    processes' pools) load one row; the second commit fails with 40001 and writes nothing; after
    a refresh it saves. A bulk_update_mappings with one stale row rolls back as a whole."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    db = guarded(TRACK_RULES, ACCOUNTS)
    Account, _ = sqlalchemy_accounts()
    engines = sqlalchemy_engines(db, pg)
    try:
        with Session(engines[0]) as a, Session(engines[1]) as b:
            mine, theirs = a.get(Account, 1), b.get(Account, 1)
            assert (mine.balance, mine.version) == (theirs.balance, theirs.version) == (100, 1)
            mine.balance = 150
            a.commit()
            theirs.balance = 80
            sqlalchemy_commit_refused_as_stale(b)
            assert account(db, 1) == (150, 2)
            theirs = b.get(Account, 1)  # expired by the rollback: read again
            assert theirs.balance == 150
            theirs.balance = 80
            b.commit()
            assert account(db, 1) == (80, 3)

            # a reads rows 1 to 3 afresh; then b changes row 2 behind its back.
            rows = a.execute(sa.select(Account).where(Account.id.in_([1, 2, 3]))).scalars().all()
            assert len(rows) == 3
            a.commit()
            b.get(Account, 2).balance = 7
            b.commit()
            with pytest.raises(sa.exc.DBAPIError) as excinfo:
                a.bulk_update_mappings(Account, [{"id": 3, "balance": 1}, {"id": 2, "balance": 1}])
                a.commit()
            assert excinfo.value.orig.pgcode == "40001"
            a.rollback()
            assert db.rows("SELECT id, balance, version FROM accounts WHERE id IN (1, 2, 3) ORDER BY id") == [
                (1, 80, 3), (2, 7, 2), (3, 300, 1)]
    finally:
        for engine in engines:
            engine.dispose()


def test_sqlalchemy_joined_eager_load_with_limit(guarded, pg):
    """joinedload() with first() wraps the entity in a subquery (`FROM (SELECT accounts.id AS
    accounts_id, ... LIMIT 1) AS anon_1 LEFT OUTER JOIN entries ...`): the rows read through it
    are tracked, so a save from it is checked."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session, joinedload

    db = guarded(TRACK_RULES, ACCOUNTS + """
        CREATE TABLE entries (id serial PRIMARY KEY, account_id int REFERENCES accounts, amount int NOT NULL);
        INSERT INTO entries (account_id, amount) VALUES (1, 10), (1, 20), (2, 5);
    """)
    Account, _ = sqlalchemy_accounts()
    engines = sqlalchemy_engines(db, pg)
    statements = []
    sa.event.listen(engines[0], "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with Session(engines[0]) as a, Session(engines[1]) as b:
            query = sa.select(Account).options(joinedload(Account.entries)).where(Account.id == 1).limit(1)
            mine = a.execute(query).unique().scalars().first()
            assert sorted(e.amount for e in mine.entries) == [10, 20]
            assert any("FROM (SELECT" in sql for sql in statements), statements  # the shape this is about
            b.get(Account, 1).balance = 150
            b.commit()
            mine.balance = 80
            sqlalchemy_commit_refused_as_stale(a)
            assert account(db, 1) == (150, 2)
    finally:
        for engine in engines:
            engine.dispose()


# --- psycopg 3 ------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg3_named_prepared_statements(guarded, binary):
    db = guarded(TRACK_RULES, ACCOUNTS)
    p = "%b" if binary else "%t"
    select = f"SELECT id, balance FROM accounts WHERE id = {p}"
    update = f"UPDATE accounts SET balance = {p} WHERE id = {p}"
    a = proxied3(db).cursor(binary=binary)
    b = proxied3(db).cursor(binary=binary)
    assert a.execute(select, (1,)).fetchall() == [(1, 100)]
    assert [(d.name, d.type_code) for d in a.description] == [("id", 23), ("balance", 23)]
    assert b.execute(select, (1,)).fetchall() == [(1, 100)]
    assert b.execute(update, (150, 1)).rowcount == 1
    assert b.execute(update, (160, 1)).rowcount == 1  # saved again without re-reading
    with pytest.raises(psycopg.Error) as excinfo:
        a.execute(update, (80, 1))
    assert excinfo.value.sqlstate == "40001"
    assert isinstance(excinfo.value, psycopg.errors.SerializationFailure)
    assert excinfo.value.diag.message_primary == STALE_1
    assert account(db, 1) == (160, 3)
    assert a.execute(select, (1,)).fetchall() == [(1, 160)]
    assert a.execute(update, (90, 1)).rowcount == 1
    assert account(db, 1) == (90, 4)

    # key = ANY($1) with an array parameter: one stale row, no row changed.
    assert a.execute(f"SELECT id, balance FROM accounts WHERE id = ANY({p}) ORDER BY id", ([2, 3],)).fetchall() == [
        (2, 200), (3, 300)]
    assert b.execute(update, (333, 3)).rowcount == 1  # B never read row 3: unread rows are allowed
    with pytest.raises(psycopg.Error) as excinfo:
        a.execute(f"UPDATE accounts SET balance = balance + 1 WHERE id = ANY({p})", ([2, 3],))
    assert excinfo.value.sqlstate == "40001"
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id IN (2, 3) ORDER BY id") == [
        (2, 200, 1), (3, 333, 2)]
    # DELETE through a prepared statement, checked the same way.
    with pytest.raises(psycopg.Error) as excinfo:
        a.execute(f"DELETE FROM accounts WHERE id = {p}", (3,))
    assert excinfo.value.sqlstate == "40001"
    assert a.execute(f"DELETE FROM accounts WHERE id = {p}", (2,)).rowcount == 1


# --- pgjdbc ---------------------------------------------------------------------------------

@pytest.mark.parametrize("commit_mode", ["autocommit", "transactions"])
def test_jdbc_read_modify_write_across_prepare_threshold(guarded, pg, jdbc, commit_mode):
    db = guarded(TRACK_RULES, ACCOUNTS)
    iterations = 10
    lines = jdbc.run("rmw", db.proxy.host, db.proxy.port, db.db, pg.admin_user, pg.admin_password, iterations,
                     commit_mode)
    output = "\n".join(lines)
    loops = [dict(field.split("=", 1) for field in line.split()) for line in lines if line.startswith("iteration=")]
    assert len(loops) == iterations, output
    for i, loop in enumerate(loops, start=1):
        assert loop["updated"] == "1", output
        assert loop["read_balance"] == str(100 + i - 1), output
        assert loop["read_version"] == str(i), output
    # The statements did become named server-side ones with binary results part-way.
    assert loops[0]["server_prepared"] == "false" and loops[-1]["server_prepared"] == "true", output
    assert loops[-1]["format"] == "1", output
    assert "other_updated=1" in lines, output
    stale = next(line for line in lines if line.startswith("stale_write "))
    assert stale.startswith("stale_write sqlstate=40001 "), output
    assert STALE_1 in stale, output
    if commit_mode == "transactions":
        # The stale write aborted A's transaction, as an error raised by PostgreSQL would.
        assert "after_stale sqlstate=25P02" in lines, output
    assert "after_reread updated=1 read_balance=1000" in lines, output
    # Ten writes, the other connection's and the one after re-reading: each bumped once.
    assert account(db, 1) == (1001, 13)


DATED = """
    CREATE TABLE sales (store int, day date, n int NOT NULL DEFAULT 0, version int NOT NULL DEFAULT 1,
                        PRIMARY KEY (store, day));
    INSERT INTO sales (store, day) SELECT 7, d FROM generate_series(date '2024-05-01', date '2024-05-04', '1 day') d;
    CREATE TABLE events (at timestamp PRIMARY KEY, n int NOT NULL DEFAULT 0, version int NOT NULL DEFAULT 1);
    INSERT INTO events (at) SELECT d + time '13:45:00.25'
                            FROM generate_series(date '2024-05-01', date '2024-05-04', '1 day') d;
"""
DATED_RULES = rules_text(table_rule("sales", key=["store", "day"]), table_rule("events", key=["at"]))


def test_jdbc_date_and_timestamp_keys(guarded, pg, jdbc):
    """pgjdbc sends dates and timestamps as text with a zone offset ('2024-05-01 +00',
    '2024-05-01 13:45:00.25+00') that PostgreSQL drops for date and timestamp: the keys are read as
    the server prints them once their type is known, declared at Parse (setObject of java.time) or
    learnt when pgjdbc describes a statement it names (setDate, setTimestamp bind with no type)."""
    db = guarded(DATED_RULES, DATED)
    lines = jdbc.run("dates", db.proxy.host, db.proxy.port, db.db, pg.admin_user, pg.admin_password, 1)
    assert lines == ["setDate sqlstate=40001", "setObject(LocalDate) sqlstate=40001",
                     "setTimestamp sqlstate=40001", "setObject(LocalDateTime) sqlstate=40001"], lines
    # Two styles per table, each: B's write, A's refused (lost updates would leave n = 4).
    assert db.rows("SELECT n, version FROM sales WHERE day = '2024-05-01'") == [(2, 3)]
    assert db.rows("SELECT n, version FROM events WHERE at = '2024-05-01 13:45:00.25'") == [(2, 3)]


def test_jdbc_autosave_rolls_back_only_the_stale_write(guarded, pg, jdbc):
    """pgjdbc with autosave=always wraps each statement in a savepoint: a stale write is refused and
    rolled back alone, the transaction goes on and commits the others, and what the session knows
    afterwards follows what committed (its own writes) and what did not (the stale one, and a
    transaction it rolled back)."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    lines = jdbc.run("autosave", db.proxy.host, db.proxy.port, db.db, pg.admin_user, pg.admin_password)
    output = "\n".join(lines)
    assert lines == [
        "other_updated=1",
        "write 1 updated=1", "write 2 sqlstate=40001", "write 3 updated=1",
        "again 1 updated=1",
        "after_reread 2 updated=1",
        "rolled_back 3 updated=1", "after_rollback 3 updated=1",
    ], output
    assert db.rows("SELECT id, balance, version FROM accounts WHERE id <= 3 ORDER BY id") == [
        (1, 11, 3), (2, 22, 3), (3, 34, 3)]


# --- node-postgres --------------------------------------------------------------------------

def test_node_pg_named_prepared_statement(guarded, pg, node_pg):
    db = guarded(TRACK_RULES, ACCOUNTS)
    out = node_pg.run({"mode": "stale", "conn": node_conn(pg, db.proxy.host, db.proxy.port, db.db)})
    assert out["a_read"] == {"rowCount": 1, "rows": [{"id": 1, "balance": 100}]}, out
    assert out["b_read"]["rows"] == [{"id": 1, "balance": 100}], out
    assert out["a_write"]["rowCount"] == 1, out
    assert out["a_write_again"]["rowCount"] == 1, out
    assert out["b_write"].get("error", {}).get("code") == "40001", out
    assert out["b_write"]["error"]["message"] == STALE_1, out
    assert out["b_reread"]["rows"] == [{"id": 1, "balance": 160}], out
    assert out["b_write_after_reread"]["rowCount"] == 1, out
    assert account(db, 1) == (90, 4)


def test_node_pg_compare_and_set_through_named_statements(guarded, pg, node_pg):
    """node `pg` with named statements, results in binary: a compare-and-set on a row read and not
    changed since, whose condition no longer holds, reports rowCount 0 as PostgreSQL does (not
    40001); the same statement with the condition holding writes."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    claim = "UPDATE accounts SET owner = $1 WHERE id = $2 AND balance < $3"
    out = node_pg.run({"mode": "queries", "binary": True, "conn": node_conn(pg, db.proxy.host, db.proxy.port, db.db),
                       "queries": [
                           {"name": "sel", "text": "SELECT id, balance FROM accounts WHERE id = ANY($1)",
                            "values": [[1, 2]]},
                           {"name": "claim", "text": claim, "values": ["x", 1, 50]},
                           {"name": "claim", "text": claim, "values": ["x", 1, 500]},
                           {"name": "claim", "text": claim, "values": ["y", 1, 500]},
                       ]})
    assert [q.get("rowCount", q.get("error")) for q in out] == [2, 0, 1, 1], out
    assert db.rows("SELECT id, owner, version FROM accounts WHERE id IN (1, 2) ORDER BY id") == \
        [(1, "y", 3), (2, "owner 2", 1)]


def test_jdbc_compare_and_set_through_named_statements(guarded, pg, jdbc, tmp_path):
    """pgjdbc (named server-side statements from the first execution, binary transfer): a
    compare-and-set on a row read and unchanged, whose condition no longer holds, counts 0 as
    PostgreSQL does (not 40001); with the condition holding it writes, twice (the session knows its
    own write)."""
    db = guarded(TRACK_RULES, ACCOUNTS)
    script = tmp_path / "claims.sql"
    script.write_text("SELECT id, balance FROM accounts WHERE id = ?\t1\n"
                      "UPDATE accounts SET balance = balance + 1 WHERE id = ? AND balance < ?\t1,50\n"
                      "UPDATE accounts SET balance = balance + 1 WHERE id = ? AND balance < ?\t1,500\n")
    output = jdbc.run("queries", db.proxy.host, db.proxy.port, db.db, pg.admin_user, pg.admin_password, script, 2)
    assert [line for line in output if line.startswith(("count", "error"))] == \
        ["count 0", "count 0", "count 1", "count 1"], output
    assert account(db, 1) == (102, 3)


# --- asyncpg --------------------------------------------------------------------------------
# asyncpg (as Go's pgx and Rust's tokio-postgres) declares no parameter types at Parse, describes
# the statement, then binds every parameter in binary: the key values are read by the types the
# server's ParameterDescription named.

KEYS_OF_MANY_TYPES = """
    CREATE TABLE by_uuid (id uuid PRIMARY KEY, n int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO by_uuid (id, n) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1),
                                       ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 2);
    CREATE TABLE by_number (id numeric(12) PRIMARY KEY, n int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO by_number (id, n) VALUES (10001, 1), (123456789012, 2);
    CREATE TABLE by_code (code char(4), year smallint, n int NOT NULL, version int NOT NULL DEFAULT 1,
                          PRIMARY KEY (code, year));
    INSERT INTO by_code (code, year, n) VALUES ('ab', 2024, 1), ('ab', 2025, 2);
    CREATE TABLE by_big (id bigint PRIMARY KEY, n int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO by_big (id, n) VALUES (9000000000, 1), (-1, 2);
    CREATE TABLE by_day (store int, day date, n int NOT NULL, version int NOT NULL DEFAULT 1,
                         PRIMARY KEY (store, day));
    INSERT INTO by_day (store, day, n) VALUES (7, '2024-05-01', 1), (7, '1999-12-31', 2);
    CREATE TABLE by_moment (at timestamp PRIMARY KEY, n int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO by_moment (at, n) VALUES ('2024-05-01 13:45:00', 1), ('1970-01-01 00:00:01', 2);
"""
MANY_KEY_RULES = rules_text(table_rule("by_uuid"), table_rule("by_number"),
                            table_rule("by_code", key=["code", "year"]), table_rule("by_big"),
                            table_rule("by_day", key=["store", "day"]), table_rule("by_moment", key=["at"]))


def asyncpg_connect(db):
    return asyncpg.connect(host=db.proxy.host, port=db.proxy.port, user=db.pg.admin_user,
                           password=db.pg.admin_password, database=db.db, timeout=10)


@pytest.mark.parametrize("table, key_columns, key, other_key", [
    ("by_uuid", ["id"], [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
     [uuid.UUID("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")]),
    ("by_number", ["id"], [decimal.Decimal(10001)], [decimal.Decimal(123456789012)]),
    ("by_code", ["code", "year"], ["ab", 2024], ["ab", 2025]),
    ("by_big", ["id"], [9000000000], [-1]),
    ("by_day", ["store", "day"], [7, datetime.date(2024, 5, 1)], [7, datetime.date(1999, 12, 31)]),
    ("by_moment", ["at"], [datetime.datetime(2024, 5, 1, 13, 45)], [datetime.datetime(1970, 1, 1, 0, 0, 1)]),
], ids=["uuid", "numeric", "char-and-smallint", "bigint", "int-and-date", "timestamp"])
def test_asyncpg_binary_keys_without_declared_types(guarded, table, key_columns, key, other_key):
    db = guarded(MANY_KEY_RULES, KEYS_OF_MANY_TYPES)
    where = " AND ".join(f"{column} = ${i + 1}" for i, column in enumerate(key_columns))
    select = f"SELECT n FROM {table} WHERE {where}"
    update = f"UPDATE {table} SET n = n + 1 WHERE {where}"
    key_text = ", ".join(str(value) for value in key)

    async def scenario():
        a, b = await asyncpg_connect(db), await asyncpg_connect(db)
        try:
            assert await a.fetchval(select, *key) == 1
            assert await b.fetchval(select, *key) == 1
            assert await b.execute(update, *key) == "UPDATE 1"
            assert await b.execute(update, *key) == "UPDATE 1"  # saved again without re-reading
            with pytest.raises(asyncpg.exceptions.SerializationError) as excinfo:
                await a.execute(update, *key)
            assert excinfo.value.sqlstate == "40001"
            assert excinfo.value.message.startswith(f"stale write to public.{table} ")
            assert f"=({key_text})" in excinfo.value.message
            # A row A read and nobody changed since, through the same prepared statement.
            assert await a.fetchval(select, *other_key) == 2
            assert await a.execute(update, *other_key) == "UPDATE 1"
            # Read again, the write goes through.
            assert await a.fetchval(select, *key) == 3
            assert await a.execute(update, *key) == "UPDATE 1"
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
    keyed = " AND ".join(f"{column}::text = %s" for column in key_columns)
    assert db.rows(f"SELECT n, version FROM {table} WHERE {keyed}", [str(v) for v in key]) == [(4, 4)]
    assert db.rows(f"SELECT n, version FROM {table} WHERE {keyed}", [str(v) for v in other_key]) == [(3, 2)]


def test_asyncpg_dates_under_another_date_style_are_not_guessed(guarded):
    """Under DateStyle SQL the session reads the day as 05/01/2024; a date bound in binary could
    be printed only by guessing the style's details, so the row counts as unread: with
    `unread: reject` the write is refused as unread, not checked against a guess."""
    rules = rules_text(table_rule("by_day", key=["store", "day"], unread="reject"))
    db = guarded(rules, KEYS_OF_MANY_TYPES)

    async def scenario():
        a = await asyncpg_connect(db)
        try:
            key = (7, datetime.date(2024, 5, 1))
            await a.execute("SET DateStyle = 'SQL, MDY'")
            assert await a.fetchval("SELECT n FROM by_day WHERE store = $1 AND day = $2", *key) == 1
            with pytest.raises(asyncpg.exceptions.SerializationError) as excinfo:
                await a.execute("UPDATE by_day SET n = 5 WHERE store = $1 AND day = $2", *key)
            assert "row not read by this session" in excinfo.value.message
            # Back in ISO, the same session's read and write of that row are matched again.
            await a.execute("SET DateStyle = ISO")
            assert await a.fetchval("SELECT n FROM by_day WHERE store = $1 AND day = $2", *key) == 1
            assert await a.execute("UPDATE by_day SET n = 5 WHERE store = $1 AND day = $2", *key) == "UPDATE 1"
        finally:
            await a.close()

    asyncio.run(scenario())
    assert db.rows("SELECT n, version FROM by_day WHERE store = 7 AND day = '2024-05-01'") == [(5, 2)]


def test_asyncpg_lost_update_any_array_and_executemany(guarded):
    db = guarded(TRACK_RULES, ACCOUNTS)

    async def scenario():
        a, b = await asyncpg_connect(db), await asyncpg_connect(db)
        try:
            row_a = await a.fetchrow("SELECT * FROM accounts WHERE id = $1", 1)
            row_b = await b.fetchrow("SELECT * FROM accounts WHERE id = $1", 1)
            assert dict(row_a) == {"id": 1, "owner": "owner 1", "balance": 100, "version": 1}
            assert await b.execute("UPDATE accounts SET balance = $1 WHERE id = $2", row_b["balance"] + 50, 1) == \
                "UPDATE 1"
            with pytest.raises(asyncpg.exceptions.SerializationError) as excinfo:
                await a.execute("UPDATE accounts SET balance = $1 WHERE id = $2", row_a["balance"] - 30, 1)
            assert excinfo.value.message == STALE_1

            # key = ANY($1), the array bound in binary: one stale row, no row changed.
            rows = await a.fetch("SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id", [2, 3])
            assert [tuple(r) for r in rows] == [(2, 200), (3, 300)]
            assert await b.execute("UPDATE accounts SET owner = 'b' WHERE id = 3") == "UPDATE 1"
            with pytest.raises(asyncpg.exceptions.SerializationError):
                await a.execute("UPDATE accounts SET balance = 0 WHERE id = ANY($1)", [2, 3])

            # executemany: one pipeline, one implicit transaction; the stale row stops all of it.
            await a.fetch("SELECT * FROM accounts WHERE id IN (4, 5)")
            assert await b.execute("UPDATE accounts SET owner = 'b' WHERE id = 5") == "UPDATE 1"
            with pytest.raises(asyncpg.exceptions.SerializationError) as excinfo:
                await a.executemany("UPDATE accounts SET balance = $2 WHERE id = $1", [(4, 1), (5, 1)])
            assert "(id)=(5)" in excinfo.value.message
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
    assert db.rows("SELECT id, balance, version FROM accounts ORDER BY id") == [
        (1, 150, 2), (2, 200, 1), (3, 300, 2), (4, 400, 1), (5, 500, 2)]


# --- what clients read: the same through staleguard as directly ------------------------------

TRANSPARENCY_SETUP = r"""
    CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12, 2), opened timestamptz,
                           token uuid, photo bytea, tags text[], scores int[], version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, owner, balance, opened, token, photo, tags, scores) VALUES
      (1, 'ann', 100.50, '2024-01-02 03:04:05.678+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10',
       '{a,b}', '{1,2,3}'),
      (2, 'bob', -3.25, '1999-12-31 23:59:59+05', NULL, '\x', '{}', NULL),
      (3, NULL, NULL, NULL, '00000000-0000-0000-0000-000000000000', NULL, '{NULL,"x y"}', '{{1,2},{3,4}}'),
      (4, 'dee', 12345678.99, '2038-01-19 03:14:08+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x5c27',
       '{"quo\"te"}', '{-1}');
    CREATE TABLE notes (id serial PRIMARY KEY, account_id int, body text, amount numeric, at timestamptz,
                        ref uuid, blob bytea, flags bool[]);
    INSERT INTO notes (account_id, body, amount, at, ref, blob, flags) VALUES
      (1, 'first', 1.5, '2024-02-03 04:05:06+00', 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x01', '{t,f}'),
      (1, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, 'third', 1e20, '2024-02-03 04:05:06.123456+00', NULL, '\x', '{NULL}'),
      (NULL, 'orphan', 0.000001, NULL, NULL, NULL, '{}');
"""
# The direct database gets the bump staleguard adds, so that RETURNING and later reads agree.
DIRECT_BUMP = """
    CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
    CREATE TRIGGER accounts_bump BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION bump_version();
"""
# (statement with %s placeholders, integer parameters or None); run in this order, reads first.
TRANSPARENCY_QUERIES = [
    ("SELECT * FROM accounts ORDER BY 1", None),
    ("SELECT id, balance FROM accounts ORDER BY id LIMIT 2 OFFSET 1", None),
    ("SELECT owner, balance FROM accounts WHERE id = %s", [2]),
    ("SELECT a.owner, n.body, n.amount FROM accounts a JOIN notes n ON n.account_id = a.id ORDER BY n.id", None),
    ("SELECT * FROM accounts a LEFT JOIN notes n ON n.account_id = a.id ORDER BY a.id, n.id", None),
    ("SELECT n.*, a.token FROM notes n FULL JOIN accounts a ON a.id = n.account_id ORDER BY n.id, a.id", None),
    ("SELECT * FROM accounts, notes WHERE notes.account_id = accounts.id ORDER BY 1, notes.id", None),
    ("SELECT * FROM accounts WHERE id = %s FOR UPDATE", [2]),
    # ORDER BY names the output column (-id), not the table's id.
    ("SELECT -id AS id, owner FROM accounts ORDER BY id LIMIT 3", None),
    ("SELECT version, id FROM accounts WHERE id IN (%s, %s) ORDER BY 2", [1, 3]),
    ("SELECT count(*), sum(balance) FROM accounts", None),
    ("SELECT * FROM accounts WHERE id < 0", None),
    ("SELECT * FROM notes ORDER BY 1", None),
    # Through subqueries in FROM: their hidden columns pass out through the alias.
    ("SELECT s.owner, s.photo, n.body FROM (SELECT * FROM accounts WHERE id <= %s ORDER BY id LIMIT 2) s "
     "LEFT JOIN notes n ON n.account_id = s.id ORDER BY s.id, n.id", [3]),
    ("SELECT t.id, t.total FROM (SELECT s.id, s.balance * 2 AS total FROM (SELECT id, balance FROM accounts) s) t "
     "ORDER BY 1", None),
    ("SELECT id, owner FROM (SELECT id, owner FROM accounts) x NATURAL JOIN (SELECT id, balance FROM accounts) y "
     "ORDER BY 1", None),
    ("SELECT s.id, to_jsonb(s) FROM (SELECT id, owner FROM accounts) s ORDER BY 1", None),
    # Through a CTE named once.
    ("WITH x AS (SELECT id, owner, tags FROM accounts WHERE id <= %s) SELECT x.owner, x.tags FROM x ORDER BY x.id",
     [3]),
    ("WITH x AS (SELECT * FROM accounts) SELECT t.id, t.photo, t.scores FROM x t ORDER BY 1", None),
    # Writes not checked, without a RETURNING of their own: staleguard's is hidden.
    ("UPDATE accounts SET owner = owner WHERE balance > %s", [0]),
    ("INSERT INTO accounts (id, owner) VALUES (%s, 'up') ON CONFLICT (id) DO UPDATE SET owner = excluded.owner", [4]),
    ("DELETE FROM accounts WHERE owner = 'nobody'", None),
    ("UPDATE accounts SET balance = balance + 1 WHERE id = 1 RETURNING *", None),
    ("UPDATE accounts SET owner = upper(owner) WHERE id IN (%s, %s) RETURNING id, owner", [1, 2]),
    ("UPDATE notes SET amount = amount * 2 WHERE account_id = 1 RETURNING *", None),
    ("INSERT INTO accounts (id, owner, balance, opened, token, photo, tags, scores) "
     "SELECT max(id) + 1, 'new', 1.00, '2024-06-01 00:00:00+00', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
     "'\\xdead', '{n}', '{9}' FROM accounts RETURNING *", None),
    ("INSERT INTO notes (account_id, body, amount) VALUES (2, 'n', 7) RETURNING id, body, at", None),
    ("DELETE FROM notes WHERE body = 'n' RETURNING *", None),
    ("SELECT * FROM accounts ORDER BY 1", None),
]


def normalised(value):
    # repr: Decimal('NaN') != Decimal('NaN'), and psycopg2 hands bytea out as a memoryview.
    return repr(bytes(value) if isinstance(value, memoryview) else value)


def python_results(conn, binary=None):
    cursor = conn.cursor() if binary is None else conn.cursor(binary=binary)
    results = []
    for sql, params in TRANSPARENCY_QUERIES:
        try:
            cursor.execute(sql, params)
        except (psycopg2.Error, psycopg.Error) as error:
            results.append((sql, "error", getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)))
            continue
        if cursor.description is None:
            results.append((sql, cursor.statusmessage, None, None))
            continue
        columns = [(d.name, d.type_code) for d in cursor.description]
        rows = [tuple(normalised(v) for v in row) for row in cursor.fetchall()]
        results.append((sql, cursor.statusmessage, columns, rows))
    return results


def jdbc_results(jdbc, pg, host, port, dbname, tmp_path):
    script = tmp_path / "queries.txt"
    lines = []
    for sql, params in TRANSPARENCY_QUERIES:
        assert "\t" not in sql and "\n" not in sql
        line = sql.replace("%s", "?")
        if params:
            line += "\t" + ",".join(map(str, params))
        lines.append(line)
    script.write_text("\n".join(lines) + "\n")
    output = jdbc.run("queries", host, port, dbname, pg.admin_user, pg.admin_password, script, 2)
    # One block per execution, starting at its "statement" line.
    blocks = []
    for line in output:
        if line.startswith("statement "):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


def node_results(node_pg, pg, host, port, dbname, binary):
    queries = []
    for i, (sql, params) in enumerate(TRANSPARENCY_QUERIES):
        text = sql
        for n in range(1, sql.count("%s") + 1):
            text = text.replace("%s", f"${n}", 1)
        query = {"text": text}
        if params:
            # Named: Parse once, Bind/Execute by name.
            query.update(values=params, name=f"q{i}")
        queries.append(query)
    return node_pg.run({"mode": "queries", "binary": binary, "queries": queries,
                        "conn": node_conn(pg, host, port, dbname)})


def asyncpg_results(pg, host, port, dbname):
    async def run():
        conn = await asyncpg.connect(host=host, port=port, user=pg.admin_user, password=pg.admin_password,
                                     database=dbname, timeout=10)
        results = []
        try:
            for sql, params in TRANSPARENCY_QUERIES:
                text = sql
                for n in range(1, sql.count("%s") + 1):
                    text = text.replace("%s", f"${n}", 1)
                try:
                    statement = await conn.prepare(text)
                    rows = await statement.fetch(*(params or []))
                except asyncpg.PostgresError as error:
                    results.append((sql, "error", error.sqlstate))
                    continue
                columns = [(a.name, a.type.oid) for a in statement.get_attributes()]
                results.append((sql, statement.get_statusmsg(), columns,
                                [tuple(normalised(v) for v in row.values()) for row in rows]))
        finally:
            await conn.close()
        return results

    return asyncio.run(run())


# psycopg3-unnamed: server-side binding without preparing, every statement the unnamed one.
# asyncpg: named statements described first, binary results.
TRANSPARENCY_CLIENTS = ["psycopg2", "psycopg3-text", "psycopg3-binary", "psycopg3-unnamed", "jdbc", "node-text",
                        "node-binary", "asyncpg"]


@pytest.fixture
def transparency_pair(guarded, fresh_db):
    """A database behind staleguard (accounts under track mode, notes unprotected) and a twin
    reached directly, whose trigger bumps accounts.version as staleguard does."""
    proxied = guarded(TRACK_RULES, TRANSPARENCY_SETUP)
    direct = Guarded(proxied.pg, fresh_db(), proxied.proxy, proxied.rules_path)
    direct.execute_direct(TRANSPARENCY_SETUP + DIRECT_BUMP)
    yield proxied, direct
    direct.close()


@pytest.mark.parametrize("client", TRANSPARENCY_CLIENTS)
def test_reads_are_the_same_through_staleguard(request, transparency_pair, pg, client, tmp_path):
    proxied, direct = transparency_pair
    via = {"proxied": (proxied.proxy.host, proxied.proxy.port, proxied.db),
           "direct": (pg.host, pg.port, direct.db)}
    results = {}
    for side, (host, port, dbname) in via.items():
        if client == "psycopg2":
            conn = psycopg2.connect(host=host, port=port, dbname=dbname, user=pg.admin_user,
                                    password=pg.admin_password, connect_timeout=10)
            conn.autocommit = True
            results[side] = python_results(conn)
            conn.close()
        elif client.startswith("psycopg3"):
            prepare = None if client.endswith("unnamed") else 0
            with connect3(pg, host, port, dbname, prepare_threshold=prepare) as conn:
                results[side] = python_results(conn, binary=client != "psycopg3-text")
        elif client == "asyncpg":
            results[side] = asyncpg_results(pg, host, port, dbname)
        elif client == "jdbc":
            side_dir = tmp_path / side
            side_dir.mkdir()
            results[side] = jdbc_results(request.getfixturevalue("jdbc"), pg, host, port, dbname, side_dir)
        else:
            results[side] = node_results(request.getfixturevalue("node_pg"), pg, host, port, dbname,
                                         binary=client.endswith("binary"))
    assert len(results["proxied"]) == len(results["direct"])
    for got, want in zip(results["proxied"], results["direct"]):
        assert got == want, f"through staleguard:\n{got!r}\ndirectly:\n{want!r}"
    # The direct run is a real one: every statement answered, rows of every type came back.
    flat = json.dumps(results["direct"], default=str)
    assert '"error"' not in flat and "'error'" not in flat and "error " not in flat, flat[:2000]
    assert "ann" in flat and "quo" in flat and "orphan" in flat
    if client in ("jdbc", "node-binary"):
        assert ":binary" in flat or '"binary"' in flat, flat[:2000]  # binary results did come
