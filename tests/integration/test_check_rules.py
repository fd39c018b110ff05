"""`staleguard --check-rules`: the file alone (exit 0 or 1, one line per problem), and against the
live test database (missing table, missing or mistyped version column, non-unique key)."""

import os

import pytest

from rules_support import rule_file, rules_text, run_staleguard, table_rule

VALID = rules_text(table_rule("accounts", mode="client"),
                   table_rule("billing.invoices", key=["tenant", "id"], version="xmin"),
                   table_rule("events", kind="timestamp", version="changed_at", watch=["payload"]),
                   sqlstate="40001", unanalysable="pass")
INVALID = """\
sqlstate: 123
tables:
  - name: accounts
    mode: optimistic
  - name: ACCOUNTS
  - name: orders
    key: []
"""


def lines(result):
    return result.stdout.splitlines()


def test_valid_file(tmp_path):
    path = rule_file(tmp_path, VALID)
    result = run_staleguard("--check-rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result) == [f"{path}: valid, 3 protected table(s)"]


def test_invalid_file(tmp_path):
    path = rule_file(tmp_path, INVALID)
    result = run_staleguard("--check-rules", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines(result) == [
        f"{path}:1:11: sqlstate must be 5 characters from 0-9 and A-Z, got '123'",
        f"{path}:4:11: unknown mode value 'optimistic'; valid values: track, client, increment",
        f"{path}:5:11: duplicate table public.accounts (first defined at line 3)",
        f"{path}:7:10: 'key' is empty; a table needs at least one key column",
        f"{path}: 4 problem(s); the file would be refused",
    ]


def test_missing_file(tmp_path):
    result = run_staleguard("--check-rules", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: cannot open rule file" in result.stdout


# --- the live database ----------------------------------------------------------------------

SCHEMA = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int, version int NOT NULL DEFAULT 1);
    CREATE TABLE texty (id int PRIMARY KEY, version text NOT NULL);
    CREATE TABLE stamped (id int PRIMARY KEY, changed_at int NOT NULL);
    CREATE TABLE loose (id int, version bigint NOT NULL);
    CREATE TABLE no_version (id int PRIMARY KEY);
    CREATE TABLE coarse (id int PRIMARY KEY, changed_at timestamptz(0) NOT NULL DEFAULT now());
    CREATE TABLE fine (id int PRIMARY KEY, changed_at timestamp(6) NOT NULL DEFAULT now());
    CREATE TABLE orders (id int, region text, version int NOT NULL DEFAULT 1, PRIMARY KEY (id, region))
        PARTITION BY LIST (region);
    CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
    CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
"""


@pytest.fixture
def schema_db(pg, fresh_db):
    db = fresh_db()
    conn = pg.connect_direct(dbname=db)
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.close()
    return db


def live_check(pg, db, path, how):
    env = dict(os.environ, PGPASSWORD=pg.admin_password, PGCONNECT_TIMEOUT="10")
    if how == "upstream":
        args = ["--upstream", pg.address, "-U", pg.admin_user, "-d", db]
    else:
        args = ["--conninfo", f"host={pg.host} port={pg.port} user={pg.admin_user} dbname={db}"]
    return run_staleguard("--check-rules", str(path), *args, env=env)


@pytest.mark.parametrize("how", ["upstream", "conninfo"])
def test_live_check_matching_database(pg, schema_db, tmp_path, how):
    path = rule_file(tmp_path, rules_text(table_rule("accounts", mode="client"),
                                          table_rule("no_version", version="xmin"),
                                          table_rule("fine", kind="timestamp", version="changed_at")))
    result = live_check(pg, schema_db, path, how)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result) == [f"{path}: valid, 3 protected table(s)", "database matches the rules"]


@pytest.mark.parametrize("how", ["upstream", "conninfo"])
def test_live_check_problems(pg, schema_db, tmp_path, how):
    path = rule_file(tmp_path, rules_text(
        table_rule("missing"),
        table_rule("no_version"),
        table_rule("texty"),
        table_rule("stamped", kind="timestamp", version="changed_at"),
        table_rule("accounts", key=["account_no"]),
        table_rule("coarse", kind="timestamp", version="changed_at")))
    result = live_check(pg, schema_db, path, how)
    assert result.returncode == 1, result.stdout + result.stderr
    out = lines(result)
    assert out[0] == f"{path}: valid, 6 protected table(s)"
    assert out[-1] == "database does not match the rules"
    errors = sorted(line for line in out if line.startswith("error: "))
    assert errors == sorted([
        "error: public.missing: table does not exist",
        "error: public.no_version: version column version does not exist",
        "error: public.texty: version column version has type text; "
        "kind counter needs smallint, integer, bigint or numeric",
        "error: public.stamped: version column changed_at has type integer; "
        "kind timestamp needs timestamp with or without time zone",
        "error: public.accounts: key column account_no does not exist",
        "error: public.coarse: version column changed_at has type timestamp(0) with time zone; kind timestamp "
        "needs microseconds (timestamp without a precision, or (6)): rounded, two changes within one tick carry "
        "one version",
    ]), result.stdout


def test_live_check_non_unique_key_is_a_warning(pg, schema_db, tmp_path):
    path = rule_file(tmp_path, rules_text(table_rule("loose", mode="client"),
                                          table_rule("accounts", bypass_roles=["no_such_role_xyz"])))
    result = live_check(pg, schema_db, path, "upstream")
    assert result.returncode == 0, result.stdout + result.stderr
    out = lines(result)
    assert "warning: public.loose: key (id) is neither the primary key nor covered by a unique index or " \
           "constraint on exactly those columns; a check may match several rows" in out
    assert "warning: bypass role no_such_role_xyz does not exist" in out
    assert out[-1] == "database matches the rules"


def test_live_check_cannot_connect(pg, tmp_path):
    path = rule_file(tmp_path, rules_text(table_rule("accounts")))
    env = dict(os.environ, PGPASSWORD="wrong password", PGCONNECT_TIMEOUT="10")
    result = run_staleguard("--check-rules", str(path), "--upstream", pg.address, "-U", pg.admin_user,
                            "-d", pg.db, env=env)
    assert result.returncode == 1
    assert any(line.startswith("error: cannot connect to database: ") for line in lines(result)), result.stdout
    assert "wrong password" not in result.stdout + result.stderr


# Found by black-box testing: a write addressed to a partition by its own name is not the parent's
# write to staleguard, so the parent's rule neither bumps nor checks it.
def test_live_check_warns_of_partitions(pg, schema_db, tmp_path):
    path = rule_file(tmp_path, rules_text(table_rule("orders", key=["id", "region"])))
    result = live_check(pg, schema_db, path, "upstream")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result)[1:] == [
        "warning: public.orders: writes addressed to its partitions or child tables by their own names (orders_eu, "
        "orders_us) are neither bumped nor checked; bumped_by: trigger (a row trigger on a partitioned table fires "
        "for its partitions) or version: xmin notices them",
        "database matches the rules"]
    # xmin notices every write, whatever name it was addressed to.
    path = rule_file(tmp_path, rules_text(table_rule("orders", key=["id", "region"], version="xmin")))
    assert lines(live_check(pg, schema_db, path, "upstream"))[1:] == ["database matches the rules"]
