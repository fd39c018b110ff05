"""Each tests/integration/*.sql run by psql straight against PostgreSQL and through staleguard, each
time in a fresh database: the two transcripts (echoed input, results, notices, errors) must be
byte-for-byte the same once PIDs are masked."""

import difflib
import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPTS = sorted(Path(__file__).parent.glob("*.sql"))
PID = re.compile(rb"(server process with PID )\d+")


def run_psql(pg, host, port, dbname, script):
    env = dict(os.environ, PGPASSWORD=pg.scram_password, PGAPPNAME="psql-script",
               PGCONNECT_TIMEOUT="10", LC_ALL="C.UTF-8", PGTZ="UTC", PGDATESTYLE="ISO, MDY")
    env.pop("PGOPTIONS", None)
    result = subprocess.run(
        [pg.tool("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-a", "-h", host, "-p", str(port),
         "-U", pg.scram_user, "-d", dbname, "-f", script.name],
        cwd=script.parent, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=300)
    return result.returncode, PID.sub(rb"\1<pid>", result.stdout)


def show_diff(direct, proxied):
    lines = difflib.unified_diff(
        direct.decode(errors="replace").splitlines(), proxied.decode(errors="replace").splitlines(),
        "direct", "through staleguard", lineterm="", n=2)
    return "\n".join(list(lines)[:120])


def test_scripts_exist():
    assert len(SCRIPTS) >= 3, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_psql_script_same_through_proxy(pg, proxy, fresh_db, script):
    direct_db, proxied_db = fresh_db(owner=pg.scram_user), fresh_db(owner=pg.scram_user)
    direct_code, direct = run_psql(pg, pg.host, pg.port, direct_db, script)
    proxied_code, proxied = run_psql(pg, proxy.host, proxy.port, proxied_db, script)

    assert direct_code == 0, direct.decode(errors="replace")[-3000:]
    # Each script ends by echoing this: psql must have run it to the end.
    assert direct.endswith(b"end of script\n"), direct[-800:]
    assert proxied_code == direct_code
    assert proxied == direct, show_diff(direct, proxied)
    assert proxy.alive()
