"""`staleguard schema`: the DDL a rule file needs and the database lacks, printed, run through
psql, or applied with --apply in one transaction; idempotent; triggers that bump the version on
writes made straight to PostgreSQL, so that a later write through staleguard is stale."""

import os
import subprocess

import psycopg2
import pytest

from rules_support import expect_error, rule_file
from support import STALEGUARD_BIN

RULES = """
tables:
  - name: accounts
    mode: client
  - name: '"Billing"."Invoices"'
    version: '"Row Version"'
  - name: events
    kind: timestamp
    version: changed_at
    watch: [payload]
  - name: '"order"'
    version: xmin
"""

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
CREATE SCHEMA "Billing";
CREATE TABLE "Billing"."Invoices" (id int PRIMARY KEY, total int);
CREATE TABLE events (id int PRIMARY KEY, payload text, seen int);
CREATE TABLE "order" (id int PRIMARY KEY);
INSERT INTO accounts VALUES (1, 100);
INSERT INTO "Billing"."Invoices" VALUES (1, 10);
INSERT INTO events VALUES (1, 'a', 0);
"""

NOTHING_TO_DO = "-- nothing to do: the database already has what the rules need\n"


@pytest.fixture
def schema_db(pg, fresh_db):
    """create(sql=SCHEMA, owner=None) -> name of a fresh database set up with sql."""
    def create(sql=SCHEMA, owner=None):
        db = fresh_db(owner=owner)
        conn = pg.connect_direct(dbname=db)
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()
        return db
    return create


def schema(pg, db, rules_path, *flags, user=None, how="upstream"):
    user = user or pg.admin_user
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    env.pop("PGOPTIONS", None)
    if pg.password_of(user):
        env["PGPASSWORD"] = pg.password_of(user)
    if how == "upstream":
        target = ["--upstream", pg.address, "-U", user, "-d", db]
    else:
        target = ["--conninfo", f"host={pg.host} port={pg.port} user={user} dbname={db}"]
    return subprocess.run([str(STALEGUARD_BIN), "schema", "--rules", str(rules_path), *target, *flags],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)


def query(pg, db, sql, params=None):
    conn = pg.connect_direct(dbname=db)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def columns(pg, db, schema_name, table):
    return dict(query(pg, db, """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped""", (schema_name, table)))


def psql_file(pg, db, script):
    env = dict(os.environ, PGPASSWORD=pg.admin_password, PGCONNECT_TIMEOUT="10")
    return subprocess.run([pg.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.host, "-p", str(pg.port),
                           "-U", pg.admin_user, "-d", db, "-f", "-"],
                          input=script, capture_output=True, text=True, timeout=60, env=env)


def test_prints_the_missing_columns_and_changes_nothing(pg, schema_db, tmp_path):
    db = schema_db()
    rules = rule_file(tmp_path, RULES)
    result = schema(pg, db, rules)
    assert result.returncode == 0, result.stdout + result.stderr
    statements = [line for line in result.stdout.splitlines() if line and not line.startswith("--")]
    assert statements == [
        "BEGIN;",
        "ALTER TABLE public.accounts ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;",
        'ALTER TABLE "Billing"."Invoices" ADD COLUMN IF NOT EXISTS "Row Version" bigint NOT NULL DEFAULT 1;',
        "ALTER TABLE public.events ADD COLUMN IF NOT EXISTS changed_at timestamptz NOT NULL DEFAULT clock_timestamp();",
        "COMMIT;",
    ]
    assert "version" not in columns(pg, db, "public", "accounts")
    assert '"order"' not in result.stdout  # nothing for the xmin table


def test_apply_then_nothing_to_do(pg, schema_db, tmp_path):
    db = schema_db()
    rules = rule_file(tmp_path, RULES)
    applied = schema(pg, db, rules, "--apply", how="conninfo")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.endswith("-- applied: 3 statement(s) for 3 table(s), committed in one transaction\n")
    assert columns(pg, db, "public", "accounts")["version"] == "bigint not null"
    assert columns(pg, db, "Billing", "Invoices")["Row Version"] == "bigint not null"
    assert columns(pg, db, "public", "events")["changed_at"] == "timestamp with time zone not null"
    assert query(pg, db, "SELECT version FROM accounts") == [(1,)]  # existing rows got the default

    again = schema(pg, db, rules, "--apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout == NOTHING_TO_DO
    # And the live check agrees that the database now fits the rules.
    check = subprocess.run([str(STALEGUARD_BIN), "--check-rules", str(rules), "--conninfo",
                            f"host={pg.host} port={pg.port} user={pg.admin_user} dbname={db}"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PGPASSWORD=pg.admin_password))
    assert check.returncode == 0, check.stdout + check.stderr


def test_printed_script_runs_in_psql(pg, schema_db, tmp_path):
    db = schema_db()
    rules = rule_file(tmp_path, RULES)
    printed = schema(pg, db, rules, "--triggers")
    assert printed.returncode == 0, printed.stderr
    ran = psql_file(pg, db, printed.stdout)
    assert ran.returncode == 0, ran.stderr
    again = schema(pg, db, rules, "--triggers")
    assert again.stdout == NOTHING_TO_DO, again.stdout


def test_triggers_bump_direct_writes(pg, schema_db, tmp_path):
    db = schema_db()
    rules = rule_file(tmp_path, RULES)
    applied = schema(pg, db, rules, "--triggers", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # A reminder per counter/timestamp table whose rule still says bumped_by: staleguard.
    assert applied.stdout.count("set `bumped_by: trigger` for") == 3, applied.stdout

    again = schema(pg, db, rules, "--triggers", "--apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout == NOTHING_TO_DO
    assert again.stderr.count("has the staleguard_bump_version trigger") == 3, again.stderr

    # Counter: OLD + 1 whatever the UPDATE assigns.
    query(pg, db, "UPDATE accounts SET balance = 50 WHERE id = 1")
    assert query(pg, db, "SELECT version FROM accounts") == [(2,)]
    query(pg, db, "UPDATE accounts SET balance = 60, version = 100 WHERE id = 1")
    assert query(pg, db, "SELECT version FROM accounts") == [(3,)]
    query(pg, db, 'UPDATE "Billing"."Invoices" SET total = 11')
    assert query(pg, db, 'SELECT "Row Version" FROM "Billing"."Invoices"') == [(2,)]
    # Timestamp with watch: only UPDATEs naming a watch column bump.
    before = query(pg, db, "SELECT changed_at FROM events")[0][0]
    query(pg, db, "UPDATE events SET seen = seen + 1")
    assert query(pg, db, "SELECT changed_at FROM events")[0][0] == before
    query(pg, db, "UPDATE events SET payload = 'b'")
    assert query(pg, db, "SELECT changed_at FROM events")[0][0] > before
    # Nothing for xmin: no trigger on "order".
    assert query(pg, db, """SELECT count(*) FROM pg_trigger WHERE tgrelid = '"order"'::regclass""") == [(0,)]


def test_direct_write_makes_a_later_write_through_staleguard_stale(pg, schema_db, tmp_path, proxy_factory):
    db = schema_db()
    rules = rule_file(tmp_path, """
        tables:
          - name: accounts
            mode: client
            bumped_by: trigger
    """)
    applied = schema(pg, db, rules, "--triggers", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "bumped_by: trigger` for" not in applied.stdout  # the rule already says so
    proxy = proxy_factory("--rules", str(rules))

    app = proxy.connect(dbname=db)
    with app.cursor() as cur:
        cur.execute("SELECT balance, version FROM accounts WHERE id = 1")
        balance, version = cur.fetchone()
    assert (balance, version) == (100, 1)
    # A cron job, straight on the server, not through staleguard.
    query(pg, db, "UPDATE accounts SET balance = balance - 30 WHERE id = 1")
    with app.cursor() as cur, pytest.raises(psycopg2.Error) as stale:
        cur.execute("UPDATE accounts SET balance = %s WHERE id = 1 AND version = %s", (balance + 10, version))
    expect_error(stale, "40001")
    assert query(pg, db, "SELECT balance, version FROM accounts") == [(70, 2)]
    # Reading again and retrying works, and the trigger (not staleguard) bumped exactly once.
    with app.cursor() as cur:
        cur.execute("SELECT balance, version FROM accounts WHERE id = 1")
        balance, version = cur.fetchone()
        cur.execute("UPDATE accounts SET balance = %s WHERE id = 1 AND version = %s", (balance + 10, version))
        assert cur.rowcount == 1
    assert query(pg, db, "SELECT balance, version FROM accounts") == [(80, 3)]
    app.close()


def test_changed_rule_refreshes_only_what_differs(pg, schema_db, tmp_path):
    db = schema_db()
    first = rule_file(tmp_path, "tables:\n  - name: events\n    kind: timestamp\n    version: changed_at\n",
                      name="first.yaml")
    assert schema(pg, db, first, "--triggers", "--apply").returncode == 0
    # Now only payload changes should bump: the trigger is replaced, the function stays.
    second = rule_file(tmp_path, "tables:\n  - name: events\n    kind: timestamp\n    version: changed_at\n"
                                 "    watch: [payload]\n    bumped_by: trigger\n", name="second.yaml")
    result = schema(pg, db, second, "--triggers", "--apply")
    assert result.returncode == 0, result.stderr
    statements = [line for line in result.stdout.splitlines() if line and not line.startswith("--")]
    assert statements == [
        "BEGIN;",
        "DROP TRIGGER IF EXISTS staleguard_bump_version ON public.events;",
        "CREATE TRIGGER staleguard_bump_version BEFORE UPDATE OF payload ON public.events",
        "    FOR EACH ROW EXECUTE FUNCTION public.staleguard_bump_events();",
        "COMMIT;",
    ]
    assert schema(pg, db, second, "--triggers").stdout == NOTHING_TO_DO


def test_a_failing_statement_changes_nothing(pg, schema_db, tmp_path, admin):
    # The trust role owns the first table but not the second: its first ALTER succeeds, its second
    # fails, and the first must be rolled back with it.
    db = schema_db("CREATE TABLE mine (id int PRIMARY KEY); CREATE TABLE theirs (id int PRIMARY KEY);"
                   f"ALTER TABLE mine OWNER TO {pg.trust_user};")
    rules = rule_file(tmp_path, "tables:\n  - name: mine\n  - name: theirs\n")
    result = schema(pg, db, rules, "--apply", user=pg.trust_user)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ALTER TABLE public.theirs ADD COLUMN" in result.stderr
    assert "must be owner of table theirs" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "-- applied" not in result.stdout
    assert "version" not in columns(pg, db, "public", "mine")


def test_tables_it_cannot_fix(pg, schema_db, tmp_path):
    db = schema_db("CREATE TABLE accounts (id int PRIMARY KEY); CREATE VIEW totals AS SELECT 1 AS id;"
                   "CREATE TABLE texty (id int PRIMARY KEY, version text);")
    rules = rule_file(tmp_path, "tables:\n  - name: missing\n  - name: totals\n  - name: texty\n"
                                "  - name: accounts\n")
    result = schema(pg, db, rules, "--apply")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: public.missing: table does not exist (the schema helper adds columns and triggers to existing "
        "tables only)",
        "error: public.totals: is a view, not a table",
        "error: public.texty: version column version has type text; kind counter needs smallint, integer, bigint "
        "or numeric",
        "staleguard schema: 3 table(s) the DDL cannot fix; nothing applied",
    ]
    assert "ALTER TABLE public.accounts ADD COLUMN" in result.stdout  # still shown for review
    assert "version" not in columns(pg, db, "public", "accounts")  # but not applied


def test_bad_rule_file_and_bad_connection(pg, tmp_path):
    broken = rule_file(tmp_path, "tables:\n  - name: accounts\n    mode: optimistic\n", name="broken.yaml")
    result = subprocess.run([str(STALEGUARD_BIN), "schema", "--rules", str(broken), "--conninfo", "host=/nonexistent"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"{broken}:3:11: unknown mode value 'optimistic'" in result.stderr
    good = rule_file(tmp_path, "tables:\n  - name: accounts\n", name="good.yaml")
    result = subprocess.run([str(STALEGUARD_BIN), "schema", "--rules", str(good), "--conninfo",
                             "host=127.0.0.1 port=1 connect_timeout=5"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("staleguard schema: cannot connect to database:"), result.stderr
    usage = subprocess.run([str(STALEGUARD_BIN), "schema", "--rules", str(good)], capture_output=True, text=True,
                           timeout=30)
    assert usage.returncode == 2
    assert "--upstream" in usage.stderr and "--conninfo" in usage.stderr
