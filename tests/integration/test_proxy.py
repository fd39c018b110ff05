"""Real clients through the real staleguard binary: COPY both ways, LISTEN/NOTIFY, query cancel,
many concurrent sessions, the extended protocol, and a server that goes away."""

import hashlib
import io
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import psycopg
import psycopg2
import psycopg2.errors
import pytest

import pgwire
from support import assert_cancel_interrupts_sleep, backend_count, free_port, wait_until


# --- COPY -----------------------------------------------------------------------------------

def copy_rows(count):
    """Tab-separated rows of a few varied columns, about 80 bytes each."""
    out = io.StringIO()
    for i in range(count):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        note = "\\N" if i % 17 == 0 else f"row {i} ünïcödé \\t tab"
        out.write(f"{i}\t{digest[: 20 + i % 40]}\t{note}\n")
    return out.getvalue()


def test_copy_in_and_out_of_a_few_megabytes(pg, proxy, admin):
    data = copy_rows(60_000)
    assert len(data.encode()) > 3_000_000
    with admin.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS copy_target")
        cur.execute("CREATE TABLE copy_target (id int PRIMARY KEY, digest text, note text)")

    conn = proxy.connect()
    with conn.cursor() as cur:
        cur.copy_expert("COPY copy_target FROM STDIN", io.StringIO(data))
        assert cur.rowcount == 60_000
        out = io.StringIO()
        # (COPY FROM's multi-insert does not keep heap order: sort)
        cur.copy_expert("COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT", out)
        assert out.getvalue() == data
        # A plain table COPY streams the heap as PostgreSQL stores it.
        heap_order = io.StringIO()
        cur.copy_expert("COPY copy_target TO STDOUT", heap_order)

    # What PostgreSQL itself stored is what was sent, and the proxy added or lost nothing.
    direct_out = io.StringIO()
    with admin.cursor() as cur:
        cur.copy_expert("COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT", direct_out)
    assert direct_out.getvalue() == data
    direct_heap_order = io.StringIO()
    with admin.cursor() as cur:
        cur.copy_expert("COPY copy_target TO STDOUT", direct_heap_order)
    assert heap_order.getvalue() == direct_heap_order.getvalue()

    # Binary COPY too.
    binary = io.BytesIO()
    with conn.cursor() as cur:
        cur.copy_expert("COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT (FORMAT binary)",
                        binary)
    direct_binary = io.BytesIO()
    with admin.cursor() as cur:
        cur.copy_expert("COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT (FORMAT binary)",
                        direct_binary)
    assert binary.getvalue() == direct_binary.getvalue()
    conn.close()
    with admin.cursor() as cur:
        cur.execute("DROP TABLE copy_target")


def test_copy_in_errors_leave_the_session_usable(proxy, admin):
    with admin.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS copy_errors")
        cur.execute("CREATE TABLE copy_errors (id int PRIMARY KEY, v text)")
    conn = proxy.connect()
    cur = conn.cursor()

    # A bad row in the middle: the server ends the COPY with an error.
    bad = "".join(f"{i}\tok\n" for i in range(5000)) + "oops\tbad\n" + "".join(
        f"{i}\tok\n" for i in range(5000, 10000))
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        cur.copy_expert("COPY copy_errors FROM STDIN", io.StringIO(bad))

    # The client gives up part way: libpq sends CopyFail, the server answers 57014.
    class FailingReader(io.StringIO):
        calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("client gave up")
            return "".join(f"{i}\tx\n" for i in range(self.calls * 100, self.calls * 100 + 100))

    with pytest.raises(Exception) as failed:
        cur.copy_expert("COPY copy_errors FROM STDIN", FailingReader(), size=1000)
    assert "client gave up" in str(failed.value) or getattr(failed.value, "pgcode", None) == "57014"

    cur.execute("SELECT count(*) FROM copy_errors")
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT 'still fine'")
    assert cur.fetchone()[0] == "still fine"
    conn.close()
    with admin.cursor() as c:
        c.execute("DROP TABLE copy_errors")


# --- LISTEN/NOTIFY --------------------------------------------------------------------------

def test_idle_listener_receives_notify(proxy, pg):
    listener = proxy.connect()
    with listener.cursor() as cur:
        cur.execute("LISTEN sg_channel")
    time.sleep(0.3)  # the listener is idle: nothing is in flight when the notification comes

    sender = proxy.connect(user=pg.scram_user)
    with sender.cursor() as cur:
        cur.execute("NOTIFY sg_channel, 'through the proxy'")
    direct = pg.connect_direct()
    with direct.cursor() as cur:
        cur.execute("SELECT pg_notify('sg_channel', 'from a direct connection')")

    payloads = []
    deadline = time.monotonic() + 10
    while len(payloads) < 2 and time.monotonic() < deadline:
        readable, _, _ = select.select([listener], [], [], max(0.0, deadline - time.monotonic()))
        if readable:
            listener.poll()
            while listener.notifies:
                note = listener.notifies.pop(0)
                assert note.channel == "sg_channel"
                payloads.append(note.payload)
    assert payloads == ["through the proxy", "from a direct connection"]
    for conn in (listener, sender, direct):
        conn.close()


# --- cancel ---------------------------------------------------------------------------------

def test_cancel_with_psycopg2(proxy):
    conn = proxy.connect()
    assert_cancel_interrupts_sleep(conn, after=1.0, within=6)
    conn.close()


def test_cancel_of_one_session_leaves_the_others_running(proxy):
    victim, bystander = proxy.connect(), proxy.connect()
    results = {}

    def run_bystander():
        with bystander.cursor() as cur:
            cur.execute("SELECT pg_sleep(2.5), 'bystander done'")
            results["bystander"] = cur.fetchone()[1]

    thread = threading.Thread(target=run_bystander)
    thread.start()
    threading.Timer(0.8, victim.cancel).start()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        with victim.cursor() as cur:
            cur.execute("SELECT pg_sleep(30)")
    thread.join(10)
    assert results == {"bystander": "bystander done"}
    victim.close()
    bystander.close()


def test_cancel_with_psql_sigint(pg, proxy, admin):
    env = dict(os.environ, PGPASSWORD=pg.admin_password, PGAPPNAME="sg-psql-cancel")
    psql = subprocess.Popen(
        [pg.tool("psql"), "-X", "-h", proxy.host, "-p", str(proxy.port), "-U", pg.admin_user,
         "-d", pg.db, "-c", "SELECT pg_sleep(30)"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def sleeping():
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'sg-psql-cancel' AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'")
            return cur.fetchone()[0] == 1

    try:
        wait_until(sleeping, 15, what="psql's query to be running")
        started = time.monotonic()
        psql.send_signal(signal.SIGINT)
        out, err = psql.communicate(timeout=10)
    finally:
        if psql.poll() is None:
            psql.kill()
    assert time.monotonic() - started < 6
    assert psql.returncode == 1, (out, err)
    assert b"canceling statement due to user request" in err, err


def test_cancel_request_with_a_wrong_key_is_harmless(proxy):
    conn = proxy.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    with socket.create_connection(proxy.address, timeout=5) as s:
        s.sendall(pgwire.cancel_request(pid, b"\x00\x01\x02\x03"))
        s.settimeout(5)
        assert s.recv(100) == b""  # a CancelRequest gets no reply, only a close
    with socket.create_connection(proxy.address, timeout=5) as s:
        s.sendall(pgwire.cancel_request(0x7FFFFFFF, b"\xff" * 4))
        s.settimeout(5)
        assert s.recv(100) == b""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(0.5), 'not cancelled'")
        assert cur.fetchone()[1] == "not cancelled"
    conn.close()


# --- many sessions and the extended protocol ------------------------------------------------

def test_one_hundred_concurrent_clients(proxy, pg, admin):
    clients = 100
    barrier = threading.Barrier(clients, timeout=60)
    errors, done = [], []
    users = [pg.trust_user, pg.md5_user, pg.scram_user, pg.admin_user]

    def client(n):
        try:
            conn = proxy.connect(user=users[n % len(users)], application_name="sg-hundred")
            barrier.wait()  # all 100 sessions are open at once
            with conn.cursor() as cur:
                for i in range(5):
                    cur.execute("SELECT %s::int * %s::int, repeat('x', %s)", (n, i, n * 10))
                    product, text = cur.fetchone()
                    assert product == n * i and text == "x" * (n * 10)
                cur.execute("SELECT count(*) FROM generate_series(1, 1000)")
                assert cur.fetchone()[0] == 1000
            barrier.wait()
            conn.close()
            done.append(n)
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(f"client {n}: {e!r}")
            barrier.abort()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(done) == list(range(clients))
    wait_until(lambda: backend_count(admin, "sg-hundred") == 0, 10,
               what="the 100 backends to go away")


def test_extended_protocol_with_psycopg3(proxy, pg):
    """psycopg 3 uses Parse/Bind/Execute with binary parameters, pipelines and prepared statements."""
    conninfo = f"host={proxy.host} port={proxy.port} dbname={pg.db} user={pg.scram_user} " \
               f"password={pg.scram_password}"
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
        conn.execute("DROP TABLE IF EXISTS ext_items")
        conn.execute("CREATE TABLE ext_items (id int PRIMARY KEY, name text, data bytea, n numeric)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO ext_items VALUES (%s, %s, %s, %s)",
                            [(i, f"name {i}", bytes(range(i % 256)), i / 4) for i in range(300)])
        row = conn.execute("SELECT id, name, data, n FROM ext_items WHERE id = %b", [77],
                           binary=True).fetchone()
        assert row[0] == 77 and row[1] == "name 77" and bytes(row[2]) == bytes(range(77))
        with conn.pipeline():
            cursors = [conn.execute("SELECT %s::int + 1", [i]) for i in range(50)]
        assert [c.fetchone()[0] for c in cursors] == list(range(1, 51))
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / %s::int", [0])
        with conn.transaction():
            conn.execute("UPDATE ext_items SET name = %s WHERE id = %s", ["changed", 1])
        assert conn.execute("SELECT name FROM ext_items WHERE id = 1").fetchone() == ("changed",)
        # server-side cursor: Execute with a row limit, PortalSuspended
        with conn.transaction():
            with conn.cursor(name="big") as cur:
                cur.itersize = 7
                cur.execute("SELECT id FROM ext_items ORDER BY id")
                assert [r[0] for r in cur] == list(range(300))
        conn.execute("DROP TABLE ext_items")


# --- a server that goes away ----------------------------------------------------------------

def test_backend_terminated_mid_session(proxy, admin):
    victim = proxy.connect(application_name="sg-victim")
    with victim.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert cur.fetchone()[0] is True
    with pytest.raises(psycopg2.OperationalError):
        with victim.cursor() as cur:
            cur.execute("SELECT 1")
    victim.close()
    # The proxy serves new sessions.
    conn = proxy.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 'alive'")
        assert cur.fetchone()[0] == "alive"
    conn.close()
    wait_until(lambda: "session closed" in proxy.log(), 5, what="the session close log line")


def test_whole_server_stops_and_comes_back(pg, proxy_factory, second_cluster):
    proxy = proxy_factory("--connect-timeout", "3", upstream=second_cluster.address)
    conn = proxy.connect(user="postgres", password="", dbname="postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    second_cluster.stop("immediate")
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    conn.close()

    # While the server is down: a real ErrorResponse, SQLSTATE 08006, and the proxy stays up.
    for _ in range(2):
        with pgwire.RawConnection(*proxy.address) as raw:
            messages = raw.startup("postgres", "postgres")
            errors = pgwire.errors_in(messages)
            assert [e.get("C") for e in errors] == ["08006"], messages
            assert raw.read_until_closed(5) == []
    assert proxy.alive()

    second_cluster.start()
    conn = proxy.connect(user="postgres", password="", dbname="postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT 'back'")
        assert cur.fetchone()[0] == "back"
    conn.close()


def test_nothing_listening_upstream(proxy_factory):
    dead = free_port()
    proxy = proxy_factory("--connect-timeout", "3", upstream=f"127.0.0.1:{dead}")
    for _ in range(3):
        with pgwire.RawConnection(*proxy.address) as raw:
            messages = raw.startup("anyone", "anydb")
            errors = pgwire.errors_in(messages)
            assert len(errors) == 1, messages
            assert errors[0]["C"] == "08006"
            assert errors[0]["S"] in ("FATAL", "ERROR")
            assert raw.read_until_closed(5) == []
    with pytest.raises(psycopg2.OperationalError) as failed:
        psycopg2.connect(host=proxy.host, port=proxy.port, user="x", dbname="y", connect_timeout=5)
    assert "08006" in str(failed.value) or "upstream" in str(failed.value).lower() \
        or "connect" in str(failed.value).lower()
    assert proxy.alive()


class FakeServer:
    """A listening socket that plays a PostgreSQL server badly: after a clean startup it runs
    `misbehave(conn)` on the first Query."""

    def __init__(self, misbehave):
        self.misbehave = misbehave
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            conn.settimeout(10)
            (length,) = struct.unpack("!I", conn.recv(4, socket.MSG_WAITALL))
            packet = conn.recv(length - 4, socket.MSG_WAITALL)
            if packet == struct.pack("!I", pgwire.SSL_REQUEST_CODE):
                # staleguard's --upstream-tls prefer asks first; this server has no TLS.
                conn.sendall(b"N")
                (length,) = struct.unpack("!I", conn.recv(4, socket.MSG_WAITALL))
                conn.recv(length - 4, socket.MSG_WAITALL)
            conn.sendall(
                pgwire.message(b"R", struct.pack("!I", 0))
                + pgwire.message(b"S", b"server_version\x0015.0\x00")
                + pgwire.message(b"S", b"client_encoding\x00UTF8\x00")
                + pgwire.message(b"K", struct.pack("!II", 4242, 1234))
                + pgwire.message(b"Z", b"I"))
            tag = conn.recv(1, socket.MSG_WAITALL)
            if tag == b"Q":
                self.misbehave(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("misbehaviour", ["close", "reset", "garbage"])
def test_server_misbehaves_mid_query(proxy_factory, misbehaviour):
    def close(conn):
        conn.close()

    def reset(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def garbage(conn):
        conn.sendall(b"\x01\x00\x00\x00\x02garbage")  # unknown tag, impossible length
        time.sleep(1)

    fake = FakeServer({"close": close, "reset": reset, "garbage": garbage}[misbehaviour])
    try:
        proxy = proxy_factory(upstream=f"127.0.0.1:{fake.port}")
        if misbehaviour == "garbage":
            proxy.allow_log("invalid message from server")
        with pgwire.RawConnection(*proxy.address) as raw:
            messages = raw.startup("u", "d")
            assert messages[-1][0] == b"Z", messages
            raw.send(pgwire.query("SELECT 1"))
            messages = raw.read_until_closed(10)
            # Whatever comes back must be well-formed; nothing of the garbage may be forwarded.
            assert all(tag in (b"E", b"N") for tag, _ in messages), messages
            for error in pgwire.errors_in(messages):
                assert len(error.get("C", "")) == 5
        # The proxy is still there for the next client.
        with pgwire.RawConnection(*proxy.address) as raw:
            assert raw.startup("u", "d")[-1][0] == b"Z"
        assert proxy.alive()
    finally:
        fake.close()


# --- shutdown -------------------------------------------------------------------------------

def new_session_possible(proxy):
    try:
        with pgwire.RawConnection(*proxy.address, timeout=3) as raw:
            messages = raw.startup(proxy.pg.trust_user, proxy.pg.db)
            return bool(messages) and messages[-1][0] == b"Z"
    except OSError:
        return False


def test_sigterm_waits_for_the_open_session_to_end(proxy_factory):
    proxy = proxy_factory("--shutdown-timeout", "20")
    conn = proxy.connect()
    busy = proxy.connect()
    result = {}

    def long_query():
        with busy.cursor() as cur:
            cur.execute("SELECT pg_sleep(2), 'finished'")
            result["busy"] = cur.fetchone()[1]

    thread = threading.Thread(target=long_query)
    thread.start()
    time.sleep(0.5)
    proxy.send_signal(signal.SIGTERM)
    # New clients are no longer accepted (refused, or answered with an error and closed).
    time.sleep(0.5)
    assert not new_session_possible(proxy), "a new session was started after SIGTERM"
    # The busy session's query is allowed to finish.
    thread.join(15)
    assert result == {"busy": "finished"}
    conn.close()
    busy.close()
    assert proxy.stop(timeout=15) == 0


def test_sigterm_with_an_idle_session_exits_within_the_shutdown_timeout(proxy_factory):
    proxy = proxy_factory("--shutdown-timeout", "2")
    conn = proxy.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")  # idle in a transaction: never at rest until the client acts
        cur.execute("SELECT 1")
    started = time.monotonic()
    assert proxy.stop(timeout=15) == 0
    assert time.monotonic() - started < 10
    conn.close()


def test_connections_closed_before_their_startup_do_not_hold_shutdown(proxy_factory):
    """A port probe (connect, close) ends its session before the startup watchdog first runs; the
    watchdog must not then arm itself for the whole --startup-timeout and keep the process alive."""
    proxy = proxy_factory("--startup-timeout", "600", "--threads", "2")
    for _ in range(20):
        socket.create_connection(proxy.address, timeout=5).close()
    assert new_session_possible(proxy)
    assert proxy.stop(timeout=30) == 0


def test_signals_arriving_together_still_end_the_process(proxy_factory):
    """Ctrl-C on a script that runs staleguard in the background can deliver SIGTERM, SIGINT and
    SIGTERM within a millisecond (the script's trap and the terminal's process group). A handler
    queued behind shutdown's last step once waited for signals again, which kept the process
    running for ever (about one run in ten hung before the fix)."""
    for attempt in range(12):
        proxy = proxy_factory()
        proxy.connect().close()
        gap = (attempt % 4) * 0.0002
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            proxy.send_signal(sig)
            time.sleep(gap)
        assert proxy.stop(timeout=10) == 0, f"attempt {attempt}"


def test_sigint_exits_zero(proxy):
    conn = proxy.connect()
    conn.close()
    assert proxy.stop(signal.SIGINT, timeout=15) == 0


# --- less common message flows --------------------------------------------------------------

def test_function_call_messages_with_large_objects(proxy):
    """libpq's large-object API uses the FunctionCall ('F') message, not SQL."""
    conn = proxy.connect(autocommit=False)
    payload = os.urandom(300_000)
    lob = conn.lobject(0, "wb")
    oid = lob.oid
    assert lob.write(payload) == len(payload)
    lob.close()
    conn.commit()
    lob = conn.lobject(oid, "rb")
    assert lob.read() == payload
    lob.seek(1000)
    assert lob.read(10) == payload[1000:1010]
    lob.unlink()
    conn.commit()
    conn.close()


def test_parameter_status_changes_reach_the_client(proxy, pg):
    conninfo = f"host={proxy.host} port={proxy.port} dbname={pg.db} user={pg.trust_user}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET application_name = 'changed mid-session'")
        assert conn.info.parameter_status("application_name") == "changed mid-session"
        conn.execute("SET TimeZone = 'Pacific/Auckland'")
        assert conn.info.parameter_status("TimeZone") == "Pacific/Auckland"


def test_large_query_text_and_large_results(proxy):
    conn = proxy.connect()
    with conn.cursor() as cur:
        literal = "y" * 2_000_000
        cur.execute("SELECT length(%s)", (literal,))
        assert cur.fetchone()[0] == 2_000_000
        cur.execute("SELECT repeat('z', 20000000)")
        assert len(cur.fetchone()[0]) == 20_000_000
        cur.execute("SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
        rows = cur.fetchall()
        assert len(rows) == 200_000 and rows[-1][0] == 200_000
    conn.close()


def test_server_messages_are_not_bound_by_the_client_limit(proxy_factory):
    proxy = proxy_factory("--max-message-bytes", "4096")
    conn = proxy.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT repeat('r', 100000)")
        assert len(cur.fetchone()[0]) == 100_000
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT repeat('c', 50000)) TO STDOUT", out)
        assert len(out.getvalue()) == 50_001
    conn.close()


def test_notices_and_notifications_during_a_query(proxy, pg):
    conn = proxy.connect()
    other = pg.connect_direct()
    with conn.cursor() as cur:
        cur.execute("LISTEN during_query")
        cur.execute("""
            DO $$ BEGIN
                FOR i IN 1..50 LOOP RAISE NOTICE 'notice %', i; END LOOP;
                PERFORM pg_notify('during_query', 'inside');
            END $$""")
    assert len(conn.notices) == 50
    assert conn.notices[0].strip().endswith("notice 1")
    deadline = time.monotonic() + 5
    while not conn.notifies and time.monotonic() < deadline:
        select.select([conn], [], [], 0.5)
        conn.poll()
    assert [n.payload for n in conn.notifies] == ["inside"]
    other.close()
    conn.close()


def test_terminate_inside_a_transaction_rolls_back(proxy, admin):
    with admin.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS terminated_tx")
        cur.execute("CREATE TABLE terminated_tx (id int)")
    conn = proxy.connect(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO terminated_tx VALUES (1)")
    conn.close()  # libpq sends Terminate; the open transaction must not be committed
    with admin.cursor() as cur:
        cur.execute("SELECT count(*) FROM terminated_tx")
        assert cur.fetchone()[0] == 0
        cur.execute("DROP TABLE terminated_tx")
