"""pgbench's TPC-B-like load through staleguard in each query mode: every transaction completes,
none fails, and the data is consistent afterwards."""

import os
import re
import subprocess

import pytest

CLIENTS = 4
TRANSACTIONS = 200


@pytest.fixture(scope="module")
def bench_db(pg):
    """A database initialised by pgbench straight against PostgreSQL (scale 1), shared by the modes."""
    conn = pg.connect_direct()
    name = "sg_pgbench"
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name} OWNER {pg.admin_user}")
    result = subprocess.run(
        [pg.tool("pgbench"), "-i", "-s", "1", "-q", "-h", pg.host, "-p", str(pg.port),
         "-U", pg.admin_user, name],
        env=dict(os.environ, PGPASSWORD=pg.admin_password), capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    yield name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


def balances(pg, db):
    conn = pg.connect_direct(dbname=db)
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT sum(abalance) FROM pgbench_accounts),"
                    " (SELECT sum(tbalance) FROM pgbench_tellers),"
                    " (SELECT sum(bbalance) FROM pgbench_branches),"
                    " (SELECT sum(delta) FROM pgbench_history),"
                    " (SELECT count(*) FROM pgbench_history)")
        row = cur.fetchone()
    conn.close()
    return row


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_through_proxy(pg, proxy, bench_db, mode):
    history_before = balances(pg, bench_db)[4]
    result = subprocess.run(
        [pg.tool("pgbench"), "-n", "-M", mode, "-c", str(CLIENTS), "-j", "2",
         "-t", str(TRANSACTIONS), "-h", proxy.host, "-p", str(proxy.port), "-U", pg.admin_user,
         bench_db],
        env=dict(os.environ, PGPASSWORD=pg.admin_password), capture_output=True, text=True,
        timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    expected = CLIENTS * TRANSACTIONS
    processed = re.search(r"number of transactions actually processed: (\d+)/(\d+)", output)
    assert processed, output
    assert (int(processed.group(1)), int(processed.group(2))) == (expected, expected), output
    failed = re.search(r"number of failed transactions: (\d+)", output)
    assert failed is None or int(failed.group(1)) == 0, output
    assert "error" not in result.stderr.lower(), output

    accounts, tellers, branches, history, history_rows = balances(pg, bench_db)
    assert accounts == tellers == branches == history
    assert history_rows - history_before == expected
    assert proxy.alive()
