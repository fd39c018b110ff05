"""`--config FILE` and `--log-format`: settings taken from the file, flags winning over it, every
problem reported as FILE:LINE:COLUMN with exit status 2, and JSON log lines that parse."""

import json
import re
import signal
import socket
import subprocess
import textwrap
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest

from rules_support import expect_error
from support import STALEGUARD_BIN, free_port, wait_until

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (trace|debug|info|warning|error|critical) +\S")


class Staleguard:
    """One staleguard started with exactly these arguments (no --listen/--upstream added)."""

    def __init__(self, tmp_path, *args, cwd=None):
        self.log_path = tmp_path / f"staleguard-{free_port()}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([str(STALEGUARD_BIN), *map(str, args)], stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd)

    def log_bytes(self):
        return Path(self.log_path).read_bytes()

    def log(self):
        return self.log_bytes().decode("utf-8", errors="replace")

    def wait_listening(self, port, timeout=15):
        """Polls the port itself: at log level warn nothing says that staleguard is ready."""
        def listening():
            if self.process.poll() is not None:
                raise AssertionError(f"staleguard exited {self.process.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, timeout, what=f"staleguard to listen on {port}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(40)
        self._log.close()
        return code


@pytest.fixture
def started(tmp_path):
    """start(*args, port=...) -> a Staleguard listening on port; each must exit 0 on SIGTERM."""
    running = []

    def start(*args, port, cwd=None):
        process = Staleguard(tmp_path, *args, cwd=cwd)
        running.append(process)
        process.wait_listening(port)
        return process

    yield start
    failures = []
    for process in running:
        code = process.stop()
        if code != 0:
            failures.append(f"staleguard exited {code}:\n{process.log()}")
    assert not failures, "\n\n".join(failures)


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run(*args, cwd=None):
    return subprocess.run([str(STALEGUARD_BIN), *map(str, args)], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=cwd)


def connect(pg, port, **kwargs):
    conn = psycopg2.connect(host="127.0.0.1", port=port, dbname=pg.db, user=pg.admin_user,
                            password=pg.admin_password, connect_timeout=10, **kwargs)
    conn.autocommit = True
    return conn


# --- settings from the file, and flags over the file ---------------------------------------------

def test_file_settings_are_used(pg, tmp_path, started):
    port = free_port()
    write(tmp_path / "rules.yaml", "tables:\n  - name: accounts\n    mode: client\n")
    config = write(tmp_path / "staleguard.yaml", f"""
        listen: 127.0.0.1:{port}
        upstream: {pg.address}
        rules: rules.yaml          # next to the config file, whatever the working directory
        threads: 1
        log:
          level: warn
        limits:
          max_connections: 1
        timeouts:
          startup: 30
          shutdown: 5
    """)
    proxy = started("--config", config, port=port, cwd="/")

    def first_client():  # the readiness probe may hold the only slot for a moment
        try:
            return connect(pg, port)
        except psycopg2.OperationalError:
            return None
    conn = wait_until(first_client, 10, what="the first client to get in")
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    # limits.max_connections: 1 -> a second client is refused like PostgreSQL refuses one.
    with pytest.raises(psycopg2.OperationalError) as refused:
        connect(pg, port)
    assert "53300" in str(refused.value) or "too many" in str(refused.value).lower(), refused.value
    conn.close()
    # log.level: warn -> no info lines (the session and the rule load are logged at info).
    assert " info " not in proxy.log(), proxy.log()
    assert "refused: max-connections 1 reached" in proxy.log()


def test_relative_rules_path_is_taken_from_the_config_files_directory(pg, tmp_path, started):
    port = free_port()
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "conf.d" / "rules.yaml", "tables:\n  - name: accounts\n")
    config = write(tmp_path / "conf.d" / "staleguard.yaml",
                   f"listen: 127.0.0.1:{port}\nupstream: {pg.address}\nrules: rules.yaml\n")
    proxy = started("--config", config, port=port, cwd="/")
    assert f"rules loaded from {tmp_path / 'conf.d' / 'rules.yaml'}: 1 protected table(s)" in proxy.log()


def test_flags_win_over_the_file(pg, tmp_path, started):
    file_port, flag_port = free_port(), free_port()
    config = write(tmp_path / "staleguard.yaml", f"""
        listen: 127.0.0.1:{file_port}
        upstream: {pg.address}
        log: {{level: warn}}
        limits: {{max_connections: 1}}
    """)
    proxy = started("--config", config, "--listen", f"127.0.0.1:{flag_port}", "--log-level", "info",
                    "--max-connections", "2", port=flag_port)
    with pytest.raises(psycopg2.OperationalError):
        connect(pg, file_port)  # the file's address was not used
    # The flag's max-connections (2) is in force, and the file's upstream still is.
    first, second = connect(pg, flag_port), connect(pg, flag_port)
    first.close()
    second.close()
    assert re.search(r" info  \[s\d+ [^]]+\] session opened", proxy.log()), proxy.log()


def test_an_empty_config_changes_nothing(pg, tmp_path, started):
    port = free_port()
    config = write(tmp_path / "empty.yaml", "# everything at its default\n")
    started("--config", config, "--listen", f"127.0.0.1:{port}", "--upstream", pg.address, port=port)


# --- problems: FILE:LINE:COLUMN, exit 2, nothing started ------------------------------------------

BROKEN = """\
listen: 127.0.0.1:6432
upstream: localhost
lisen: 127.0.0.1:1
log:
  level: loud
  colour: true
limits:
  max_connections: many
timeouts: {startup: 10s}
threads: [1, 2]
tls:
  mode: always
"""


def test_every_problem_is_reported_with_its_position(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN)
    result = run("--config", config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"{config}:2:11: 'upstream' expects HOST:PORT, got 'localhost'",
        f"{config}:3:1: unknown key 'lisen'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
        "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, admin_users",
        f"{config}:5:10: unknown log.level value 'loud'; valid values: trace, debug, info, warn, error",
        f"{config}:6:3: unknown key 'colour' in 'log'; valid keys: level, format, statements",
        f"{config}:8:20: 'limits.max_connections' must be a whole number, got 'many'",
        f"{config}:9:21: 'timeouts.startup' must be a number of seconds, got '10s'",
        f"{config}:10:10: 'threads' must be a scalar, got a list",
        f"{config}:12:9: unknown tls.mode value 'always'; valid values: disable, allow, require",
        f"staleguard: {config}: 8 problem(s); not starting",
    ]
    assert result.stdout == ""


@pytest.mark.parametrize("text, expected", [
    ("listen: [::1]:6432\n", ":1:14: YAML syntax error: end of map not found"),  # unquoted IPv6
    ("metrics: 127.0.0.1\n", ":1:10: 'metrics' expects HOST:PORT, got '127.0.0.1'"),
    ("admin_users: ops\n", ":1:14: 'admin_users' must be a list of role names, got a scalar"),
    ("threads: 1\n---\nthreads: 2\n", ":2:1: config file has more than one YAML document"),
    ("- listen\n", ":1:1: config file must be a map of settings, got a list"),
    ("{threads: 1}\n,\n", ":2:1: YAML syntax error: unexpected ','"),
])
def test_single_problems(tmp_path, text, expected):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = run("--config", config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"{config}{expected}"), result.stderr


def test_missing_config_file(tmp_path):
    result = run("--config", tmp_path / "absent.yaml")
    assert result.returncode == 2
    assert f"{tmp_path / 'absent.yaml'}: cannot open config file: No such file or directory" in result.stderr


def test_a_bad_flag_is_still_a_usage_error_with_a_good_file(pg, tmp_path):
    config = write(tmp_path / "ok.yaml", f"upstream: {pg.address}\n")
    result = run("--config", config, "--log-format", "xml")
    assert result.returncode == 2
    assert "--log-format" in result.stderr


# --- log formats ---------------------------------------------------------------------------------

def json_lines(raw):
    """Every line of raw (bytes) as a JSON object with exactly time, level and message."""
    records = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        record = json.loads(line.decode("utf-8"))  # valid UTF-8 and valid JSON, or the test fails
        assert set(record) == {"time", "level", "message"}, record
        assert datetime.fromisoformat(record["time"]).utcoffset() is not None, record
        assert record["level"] in {"trace", "debug", "info", "warning", "error", "critical"}, record
        records.append(record)
    return records


def test_json_log_lines_parse_and_escape_the_message(pg, tmp_path, started, fresh_db):
    db = fresh_db()
    setup = psycopg2.connect(host=pg.host, port=pg.port, dbname=db, user=pg.admin_user,
                             password=pg.admin_password)
    setup.autocommit = True
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id text PRIMARY KEY, balance int, version bigint NOT NULL DEFAULT 1);"
                    "INSERT INTO accounts VALUES (E'tab\\there \"quoted\" back\\\\slash é', 1, 1)")
    setup.close()
    # A rule file whose name holds a quote, a backslash, a newline, a control byte, bytes that are not
    # UTF-8 (a stray byte, an overlong '/', a surrogate, a code point past U+10FFFF, a cut-off
    # sequence) and a valid 4-byte character: the log line naming it must stay one valid JSON object.
    weird_name = ('rules "q" \\ \n \x01 \U0001F600 '.encode() +
                  b"\xff \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82.yaml")
    weird_path = bytes(tmp_path) + b"/" + weird_name
    with open(weird_path, "wb") as rules:
        rules.write(b"tables:\n  - name: accounts\n    mode: client\n")
    port = free_port()
    config = write(tmp_path / "staleguard.yaml", "log: {format: json, level: debug}\n")
    proxy = started("--config", config, "--listen", f"127.0.0.1:{port}", "--upstream", pg.address,
                    "--rules", weird_path.decode("utf-8", errors="surrogateescape"), port=port)
    conn = psycopg2.connect(host="127.0.0.1", port=port, dbname=db, user=pg.admin_user,
                            password=pg.admin_password, connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as stale:
        cur.execute("UPDATE accounts SET balance = 2 WHERE id = %s AND version = 7",
                    ('tab\there "quoted" back\\slash é',))
    expect_error(stale, "40001")
    conn.close()
    assert proxy.stop() == 0

    records = json_lines(proxy.log_bytes())
    messages = [r["message"] for r in records]
    shown_path = (str(tmp_path) + '/rules "q" \\ \n \x01 \U0001F600 \ufffd \ufffd\ufffd \ufffd\ufffd\ufffd '
                  '\ufffd\ufffd\ufffd\ufffd \ufffd\ufffd.yaml')
    assert f"rules loaded from {shown_path}: 1 protected table(s)" in messages, messages
    assert any(m.startswith("staleguard listening on ") for m in messages), messages
    stale_lines = [m for m in messages if "stale write to public.accounts" in m]
    assert len(stale_lines) == 1, messages
    assert 'tab\there "quoted" back\\slash é' in stale_lines[0]
    assert any(r["level"] == "debug" for r in records), "log.level debug from the file was not applied"
    # The raw bytes carry the escapes, not the characters.
    raw = proxy.log_bytes()
    assert b"\\u0001" in raw and b"\\ufffd" in raw and b'\\"q\\"' in raw and b"\\n" in raw
    assert b"\x01" not in raw and b"\xff" not in raw


def test_text_is_the_default_format(pg, tmp_path, started):
    port = free_port()
    proxy = started("--listen", f"127.0.0.1:{port}", "--upstream", pg.address, port=port)
    assert proxy.stop() == 0
    lines = proxy.log().splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines


def test_log_format_flag_wins_over_the_file(pg, tmp_path, started):
    port = free_port()
    config = write(tmp_path / "staleguard.yaml", "log: {format: text}\n")
    proxy = started("--config", config, "--log-format", "json", "--listen", f"127.0.0.1:{port}",
                    "--upstream", pg.address, port=port)
    assert proxy.stop() == 0
    assert any(r["message"] == "staleguard stopped" for r in json_lines(proxy.log_bytes()))
