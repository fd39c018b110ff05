"""--metrics: /metrics scraped with curl and parsed; the counters move as sessions open, statements pass,
are rewritten, tracked or refused (a stale write), rules reload; the HTTP side answers 404/405 and
survives garbage."""

import re
import signal
import socket
import subprocess
import time

import psycopg2
import pytest

from rules_support import expect_error, guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)
from support import free_port, wait_until

SETUP = """
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO accounts (id, balance) SELECT g, g * 100 FROM generate_series(1, 5) g;
    CREATE TABLE counters (id int PRIMARY KEY, hits int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO counters VALUES (1, 0);
"""
RULES = rules_text(table_rule("accounts"), table_rule("counters", mode="increment"))

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value} plus {name: type}; asserts the text is well formed."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        parsed = {}
        if labels:
            for key, raw in LABEL.findall(labels):
                parsed[key] = raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        key = (name, frozenset(parsed.items()))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value)
    assert set(types) == helps, (set(types), helps)
    return samples, types


class Scraper:
    def __init__(self, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/metrics"

    def text(self):
        result = subprocess.run(["curl", "-sf", "--max-time", "10", self.url], capture_output=True, text=True)
        assert result.returncode == 0, f"curl failed ({result.returncode}): {result.stderr}"
        return result.stdout

    def scrape(self):
        samples, types = parse_exposition(self.text())
        return Metrics(samples, types)

    def status(self, *args, path="/metrics"):
        result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", *args,
                                 f"http://127.0.0.1:{self.port}{path}"], capture_output=True, text=True)
        return int(result.stdout)


class Metrics:
    def __init__(self, samples, types):
        self.samples = samples
        self.types = types

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def statements(self):
        return {o: self.get("staleguard_statements_total", outcome=o)
                for o in ("passed", "rewritten", "tracked", "rejected")}

    def buckets(self):
        out = []
        for (name, labels), value in self.samples.items():
            if name == "staleguard_statement_added_seconds_bucket":
                le = dict(labels)["le"]
                out.append((float("inf") if le == "+Inf" else float(le), value))
        return sorted(out)


@pytest.fixture
def metered(guarded):
    """(db name, proxy, Scraper, rules path): a fresh database behind a staleguard with --metrics."""
    def make(*extra):
        port = free_port()
        db = guarded(RULES, SETUP, extra=("--metrics", f"127.0.0.1:{port}", *extra))
        wait_until(lambda: f"metrics on 127.0.0.1:{port}" in db.proxy.log(), 10, what="metrics log line")
        return db.db, db.proxy, Scraper(port), db.rules_path
    return make


def run(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else cur.statusmessage


def test_counts_move_with_sessions_statements_and_a_stale_write(metered):
    db, proxy, scraper, _ = metered()
    m0 = scraper.scrape()
    assert m0.types["staleguard_sessions_open"] == "gauge"
    assert m0.types["staleguard_statements_total"] == "counter"
    assert m0.types["staleguard_statement_added_seconds"] == "histogram"
    assert m0.get("staleguard_sessions_open") == 0

    a = proxy.connect(dbname=db)
    b = proxy.connect(dbname=db)
    m1 = scraper.scrape()
    assert m1.get("staleguard_sessions_open") == 2
    assert m1.get("staleguard_sessions_total") == m0.get("staleguard_sessions_total") + 2
    # psycopg2 sends nothing at connect beyond the startup packet: no statements yet.
    s1 = m1.statements()

    assert run(a, "SELECT 1") == [(1,)]                                        # passed
    s2 = scraper.scrape().statements()
    assert s2["passed"] == s1["passed"] + 1
    assert (s2["rewritten"], s2["tracked"], s2["rejected"]) == (s1["rewritten"], s1["tracked"], s1["rejected"])

    assert run(a, "SELECT id, balance FROM accounts WHERE id = 1") == [(1, 100)]  # tracked read
    s3 = scraper.scrape().statements()
    assert s3["tracked"] == s2["tracked"] + 1
    assert s3["passed"] == s2["passed"]

    assert run(a, "UPDATE counters SET hits = hits + 1 WHERE id = 1") == "UPDATE 1"  # increment: rewritten
    s4 = scraper.scrape().statements()
    assert s4["rewritten"] == s3["rewritten"] + 1

    # b changes row 1 behind a's back; a's write based on its read is stale.
    assert run(b, "SELECT balance FROM accounts WHERE id = 1") == [(100,)]
    assert run(b, "UPDATE accounts SET balance = 150 WHERE id = 1") == "UPDATE 1"
    m5 = scraper.scrape()
    s5 = m5.statements()
    assert s5["tracked"] == s4["tracked"] + 2
    stale_before = m5.get("staleguard_stale_writes_total", table="public.accounts")
    with pytest.raises(psycopg2.Error) as excinfo:
        run(a, "UPDATE accounts SET balance = 200 WHERE id = 1")
    expect_error(excinfo, "40001")
    m6 = scraper.scrape()
    assert m6.get("staleguard_stale_writes_total", table="public.accounts") == stale_before + 1
    s6 = m6.statements()
    assert s6["rejected"] == s5["rejected"] + 1
    assert s6["tracked"] == s5["tracked"], "a stale write counts as rejected, not also as tracked"

    # Bytes grow both ways; the histogram counted every statement and its buckets are cumulative.
    assert m6.get("staleguard_bytes_total", direction="client_to_server") > m1.get(
        "staleguard_bytes_total", direction="client_to_server")
    assert m6.get("staleguard_bytes_total", direction="server_to_client") > m1.get(
        "staleguard_bytes_total", direction="server_to_client")
    count = m6.get("staleguard_statement_added_seconds_count")
    assert count == sum(s6.values()) and count >= 6
    buckets = m6.buckets()
    assert buckets[-1] == (float("inf"), count)
    assert all(earlier[1] <= later[1] for earlier, later in zip(buckets, buckets[1:])), buckets
    assert 0 < m6.get("staleguard_statement_added_seconds_sum") < count * 1.0
    assert m6.get("staleguard_parse_cache_lookups_total", result="miss") > 0

    a.close()
    b.close()
    wait_until(lambda: scraper.scrape().get("staleguard_sessions_open") == 0, 10, what="sessions to close")


def test_reloads_counted_by_result(metered):
    db, proxy, scraper, rules = metered()
    proxy.allow_log(r"rule file .* refused|rules\.yaml:\d+:\d+")
    m0 = scraper.scrape()
    assert m0.get("staleguard_rule_reloads_total", result="ok") == 0
    assert m0.get("staleguard_rule_reloads_total", result="failed") == 0
    good = rules.read_text()
    rules.write_text("tables:\n  - name: accounts\n    mode: sometimes\n")
    proxy.send_signal(signal.SIGHUP)
    proxy.signalled = False
    wait_until(lambda: scraper.scrape().get("staleguard_rule_reloads_total", result="failed") == 1, 10,
               what="failed reload counted")
    rules.write_text(good)
    proxy.send_signal(signal.SIGHUP)
    proxy.signalled = False
    wait_until(lambda: scraper.scrape().get("staleguard_rule_reloads_total", result="ok") == 1, 10,
               what="good reload counted")
    m = scraper.scrape()
    assert m.get("staleguard_rule_reloads_total", result="failed") == 1


def test_upstream_connect_failures(pg, proxy_factory):
    port = free_port()
    dead = free_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}", "--connect-timeout", "2", upstream=f"127.0.0.1:{dead}")
    scraper = Scraper(port)
    wait_until(lambda: f"metrics on 127.0.0.1:{port}" in proxy.log(), 10, what="metrics log line")
    with pytest.raises(psycopg2.OperationalError):
        proxy.connect()
    assert scraper.scrape().get("staleguard_upstream_connect_failures_total") >= 1


def test_http_answers_and_garbage(metered):
    db, proxy, scraper, _ = metered()
    assert scraper.status() == 200
    assert scraper.status("-I") == 200                      # HEAD
    assert scraper.status(path="/") == 404
    assert scraper.status(path="/metricsx") == 404
    assert scraper.status("-X", "POST", "-d", "x=1") == 405
    assert scraper.status("-X", "DELETE") == 405
    assert scraper.status(path="/metrics?name[]=x") == 200
    headers = subprocess.run(["curl", "-sfI", scraper.url], capture_output=True, text=True).stdout.lower()
    assert "content-type: text/plain; version=0.0.4; charset=utf-8" in headers
    assert "content-length: 0" not in headers

    # Keep-alive: two requests on one connection.
    two = subprocess.run(["curl", "-sf", "-v", scraper.url, scraper.url], capture_output=True, text=True)
    assert two.returncode == 0
    assert "Re-using existing connection" in two.stderr or "Reusing existing connection" in two.stderr

    # Garbage, an oversized header and a silent client: none of them takes the proxy down.
    def raw(data):
        """What the server answers before it closes; b"" when it reset the connection first (it
        stops reading an oversized request, and unread bytes turn a close into a reset)."""
        with socket.create_connection(("127.0.0.1", scraper.port), timeout=10) as s:
            try:
                s.sendall(data)
                return s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                return b""
    assert raw(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = raw(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert big == b"" or big.startswith(b"HTTP/1.1 400"), big[:100]
    silent = [socket.create_connection(("127.0.0.1", scraper.port), timeout=10) for _ in range(3)]
    assert scraper.status() == 200
    for s in silent:
        s.close()
    conn = proxy.connect(dbname=db)
    assert run(conn, "SELECT 2") == [(2,)]
    conn.close()
    assert proxy.alive()
    assert scraper.scrape().get("staleguard_sessions_total") >= 1


def test_metrics_stop_with_the_proxy_and_bind_failure_is_fatal(pg, proxy_factory):
    port = free_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}")
    wait_until(lambda: f"metrics on 127.0.0.1:{port}" in proxy.log(), 10, what="metrics log line")
    # An idle keep-alive scraper must not keep the process alive after SIGTERM.
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    idle.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    started = time.monotonic()
    assert proxy.stop() == 0
    assert time.monotonic() - started < 5
    idle.close()

    # The port is taken: staleguard refuses to start.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        failing = proxy_factory("--metrics", f"127.0.0.1:{busy}", wait=False)
        failing.expected_exit = 1
        failing.allow_log(r"cannot serve metrics")
        assert failing.process.wait(15) == 1
        failing.returncode = 1
        assert f"cannot serve metrics on 127.0.0.1:{busy}" in failing.log()


def test_metrics_from_config_file_and_flag_wins(pg, proxy_factory, tmp_path):
    from_file, from_flag = free_port(), free_port()
    config = tmp_path / "staleguard.yaml"
    config.write_text(f"metrics: 127.0.0.1:{from_file}\n")
    proxy = proxy_factory("--config", str(config))
    wait_until(lambda: f"metrics on 127.0.0.1:{from_file}" in proxy.log(), 10, what="metrics from the config file")
    assert Scraper(from_file).scrape().types["staleguard_sessions_total"] == "counter"
    proxy.stop()
    flagged = proxy_factory("--config", str(config), "--metrics", f"127.0.0.1:{from_flag}")
    wait_until(lambda: f"metrics on 127.0.0.1:{from_flag}" in flagged.log(), 10, what="metrics from the flag")
    assert f"127.0.0.1:{from_file}" not in flagged.log()
    assert Scraper(from_flag).status() == 200
