"""Hostile and broken clients on raw sockets: each gets an ErrorResponse with SQLSTATE 08P01 where a
reply can still be sent, then its connection is closed, while other sessions and new connections
keep working. Also the connection cap and the startup timeout."""

import os
import socket
import struct
import threading
import time

import pytest

import pgwire
from support import backend_count, wait_until

MAX_MESSAGE = 4096


@pytest.fixture
def small_proxy(proxy_factory):
    """A proxy with a small message limit, and a healthy session that must survive each test."""
    proxy = proxy_factory("--max-message-bytes", str(MAX_MESSAGE))
    bystander = proxy.connect(application_name="sg-bystander")
    yield proxy
    # The other session and new sessions still work.
    with bystander.cursor() as cur:
        cur.execute("SELECT 'bystander ok'")
        assert cur.fetchone()[0] == "bystander ok"
    bystander.close()
    fresh = proxy.connect()
    with fresh.cursor() as cur:
        cur.execute("SELECT 1")
    fresh.close()
    assert proxy.alive()


def expect_08P01_and_close(raw, timeout=5):
    messages = raw.read_until_closed(timeout)
    errors = pgwire.errors_in(messages)
    assert len(errors) == 1, f"expected one ErrorResponse, got {messages}"
    assert errors[0].get("C") == "08P01", errors[0]
    assert errors[0].get("S") in ("FATAL", "ERROR"), errors[0]
    assert [tag for tag, _ in messages] == [b"E"], messages
    return errors[0]


def open_session(pg, proxy, application_name):
    raw = pgwire.RawConnection(*proxy.address)
    messages = raw.startup(pg.trust_user, pg.db, application_name=application_name)
    assert messages[-1] == (b"Z", b"I"), messages
    return raw


# --- startup phase --------------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 3, 7])
def test_startup_length_too_small(small_proxy, length):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(struct.pack("!I", length) + b"\x00\x03\x00\x00")
        expect_08P01_and_close(raw)


@pytest.mark.parametrize("length", [10001, 20000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_startup_length_too_large(small_proxy, length):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        # Only the header: the proxy must not wait for the rest of an impossible packet.
        raw.send(struct.pack("!II", length, pgwire.PROTOCOL_3_0))
        expect_08P01_and_close(raw)


def test_startup_unknown_protocol_version(small_proxy):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(struct.pack("!II", 8, 0x12345678))
        messages = raw.read_until_closed(5)
        errors = pgwire.errors_in(messages)
        assert len(errors) == 1, messages
        # PostgreSQL answers 0A000 (unsupported protocol); a proxy may answer 08P01 first.
        assert errors[0]["C"] in ("08P01", "0A000")


def test_startup_parameters_not_terminated(pg, small_proxy):
    body = struct.pack("!I", pgwire.PROTOCOL_3_0) + b"user\x00" + pg.trust_user.encode()
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(struct.pack("!I", len(body) + 4) + body)
        expect_08P01_and_close(raw)


def test_http_request_instead_of_startup(small_proxy):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        messages = raw.read_until_closed(5)
        assert [tag for tag, _ in messages] in ([], [b"E"])
        for error in pgwire.errors_in(messages):
            assert error["C"] == "08P01"


def test_random_bytes_before_startup(small_proxy):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(os.urandom(64))
        messages = raw.read_until_closed(5)
        assert [tag for tag, _ in messages] in ([], [b"E"])


def test_cancel_request_of_wrong_length(small_proxy):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(struct.pack("!III", 12, pgwire.CANCEL_REQUEST_CODE, 1234))
        messages = raw.read_until_closed(5)
        assert [tag for tag, _ in messages] in ([], [b"E"])


def test_ssl_request_then_garbage(small_proxy):
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(pgwire.ssl_request())
        assert raw.read_byte(5) == b"N"
        raw.send(struct.pack("!I", 3))
        expect_08P01_and_close(raw)


# --- after authentication -------------------------------------------------------------------

def test_message_length_too_small(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-len2") as raw:
        raw.send(b"Q" + struct.pack("!I", 2))
        expect_08P01_and_close(raw)


def test_message_above_max_message_bytes(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-too-big") as raw:
        # Only the header and a little of the body: refused on the declared length alone.
        raw.send(b"Q" + struct.pack("!I", MAX_MESSAGE * 4) + b"SELECT ")
        expect_08P01_and_close(raw)


def test_message_just_below_max_message_bytes_is_fine(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-near-limit") as raw:
        sql = "SELECT '" + "x" * (MAX_MESSAGE - 4 - 20) + "'"
        messages = raw.simple_query(sql)
        assert pgwire.errors_in(messages) == []
        assert len(pgwire.data_rows(messages)[0][0]) == MAX_MESSAGE - 24


def test_unknown_message_type(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-unknown-tag") as raw:
        raw.send(b"z" + struct.pack("!I", 4))
        expect_08P01_and_close(raw)


def test_malformed_body(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-no-nul") as raw:
        raw.send(pgwire.message(b"Q", b"SELECT 1"))  # the query string lacks its NUL
        expect_08P01_and_close(raw)


def test_startup_message_after_startup(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-second-startup") as raw:
        raw.send(pgwire.startup_packet(pg.trust_user, pg.db))
        messages = raw.read_until_closed(5)
        errors = pgwire.errors_in(messages)
        assert len(errors) == 1 and errors[0]["C"] == "08P01", messages


def test_client_disconnects_mid_message(pg, small_proxy, admin):
    raw = open_session(pg, small_proxy, "sg-half-message")
    assert backend_count(admin, "sg-half-message") == 1
    raw.send(b"Q" + struct.pack("!I", 100) + b"SELECT 1")
    raw.close()
    # The proxy closes the server side too: no backend is left behind.
    wait_until(lambda: backend_count(admin, "sg-half-message") == 0, 10,
               what="the abandoned backend to go away")


def test_client_disconnects_mid_startup(small_proxy):
    with socket.create_connection(small_proxy.address) as s:
        s.sendall(struct.pack("!I", 80) + b"\x00\x03")
    time.sleep(0.2)


def test_client_disconnects_during_a_long_query(pg, small_proxy, admin):
    raw = open_session(pg, small_proxy, "sg-gone-client")
    raw.send(pgwire.query("SELECT pg_sleep(1); SELECT repeat('x', 10000000)"))
    raw.close()
    wait_until(lambda: backend_count(admin, "sg-gone-client") == 0, 15,
               what="the backend of a vanished client to go away")


def test_terminate_closes_cleanly(pg, small_proxy, admin):
    raw = open_session(pg, small_proxy, "sg-terminate")
    raw.send(pgwire.TERMINATE)
    assert raw.read_until_closed(5) == []
    raw.close()
    wait_until(lambda: backend_count(admin, "sg-terminate") == 0, 10, what="backend exit")


def test_pipelined_messages_in_one_write(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-pipelined") as raw:
        raw.send(pgwire.query("SELECT 1") + pgwire.query("SELECT 2") + pgwire.query("SELECT 3"))
        rows = []
        for _ in range(3):
            rows += pgwire.data_rows(raw.read_until_ready())
        assert rows == [["1"], ["2"], ["3"]]


def test_message_split_into_single_bytes(pg, small_proxy):
    with open_session(pg, small_proxy, "sg-dribble") as raw:
        for byte in pgwire.query("SELECT 'dribbled'"):
            raw.send(bytes([byte]))
            time.sleep(0.002)
        assert pgwire.data_rows(raw.read_until_ready()) == [["dribbled"]]


# --- limits ---------------------------------------------------------------------------------

def test_connection_cap(pg, proxy_factory):
    proxy = proxy_factory("--max-connections", "3")
    held = [proxy.connect(user=pg.trust_user) for _ in range(3)]
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.trust_user, pg.db)
        errors = pgwire.errors_in(messages)
        assert len(errors) == 1, messages
        assert errors[0]["C"] == "53300"
        assert raw.read_until_closed(5) == []
    for conn in held:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    held.pop().close()

    def slot_free():
        with pgwire.RawConnection(*proxy.address) as raw:
            return raw.startup(pg.trust_user, pg.db)[-1][0] == b"Z"

    wait_until(slot_free, 5, interval=0.2, what="a freed slot to be usable")
    for conn in held:
        conn.close()


def test_startup_timeout_silent_client(proxy_factory):
    proxy = proxy_factory("--startup-timeout", "1")
    with pgwire.RawConnection(*proxy.address) as raw:
        started = time.monotonic()
        messages = raw.read_until_closed(6)
        assert time.monotonic() - started < 5
        assert [tag for tag, _ in messages] in ([], [b"E"])


def test_startup_timeout_partial_startup(proxy_factory):
    proxy = proxy_factory("--startup-timeout", "1")
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(struct.pack("!I", 40) + b"\x00\x03\x00")
        started = time.monotonic()
        messages = raw.read_until_closed(6)
        assert time.monotonic() - started < 5
        assert [tag for tag, _ in messages] in ([], [b"E"])


def test_startup_timeout_stalled_authentication(pg, proxy_factory):
    proxy = proxy_factory("--startup-timeout", "1")
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(pgwire.startup_packet(pg.scram_user, pg.db))
        tag, payload = raw.read_message(5)
        assert tag == b"R" and struct.unpack("!I", payload[:4])[0] == 10  # SASL: never answered
        started = time.monotonic()
        messages = raw.read_until_closed(6)
        assert time.monotonic() - started < 5
        assert all(tag == b"E" for tag, _ in messages)


def test_startup_timeout_does_not_touch_established_sessions(pg, proxy_factory):
    proxy = proxy_factory("--startup-timeout", "1")
    conn = proxy.connect(user=pg.trust_user)
    time.sleep(2.5)
    with conn.cursor() as cur:
        cur.execute("SELECT 'still here'")
        assert cur.fetchone()[0] == "still here"
    conn.close()


def test_startup_and_query_in_one_write(pg, small_proxy):
    """Bytes after the StartupMessage (sent before authentication ends) must not be lost."""
    with pgwire.RawConnection(*small_proxy.address) as raw:
        raw.send(pgwire.startup_packet(pg.trust_user, pg.db) + pgwire.query("SELECT 'eager'"))
        first = raw.read_until_ready()
        assert first[0][0] == b"R" and first[-1][0] == b"Z", first
        assert pgwire.data_rows(raw.read_until_ready()) == [["eager"]]


def test_many_pipelined_queries_with_backpressure(pg, small_proxy):
    """A client that writes far ahead of what it reads: nothing is lost, reordered or stuck."""
    count = 5000
    batch = b"".join(pgwire.query(f"SELECT {i}, repeat('p', 500)") for i in range(count))
    with open_session(pg, small_proxy, "sg-backpressure") as raw:
        sender = threading.Thread(target=raw.send, args=(batch,))
        sender.start()
        time.sleep(1.0)  # let the buffers on every hop fill up before reading anything
        values = []
        for _ in range(count):
            rows = pgwire.data_rows(raw.read_until_ready(timeout=30))
            values.append(int(rows[0][0]))
        sender.join(10)
        assert values == list(range(count))


# --- protocol version negotiation -----------------------------------------------------------

def test_newer_minor_version_gets_the_servers_negotiate_protocol_version(pg, proxy):
    """A client asking for protocol 3.2 with an option PostgreSQL 15 does not know gets the
    server's own NegotiateProtocolVersion (newest minor 0, the option listed), then a session."""
    body = struct.pack("!I", (3 << 16) | 2)
    for key, value in (("user", pg.trust_user), ("database", pg.db), ("_pq_.made_up_option", "x")):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    packet = struct.pack("!I", len(body) + 4) + body
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(packet)
        messages = raw.read_until_ready()
        negotiations = [payload for tag, payload in messages if tag == b"v"]
        assert len(negotiations) == 1, messages
        newest, count = struct.unpack("!II", negotiations[0][:8])
        # PostgreSQL 15 sends its whole newest version (3.0 = 196608) where the protocol text
        # speaks of the minor alone; either way the minor is 0, and it reached us unchanged.
        assert newest & 0xFFFF == 0
        assert count == 1 and negotiations[0][8:] == b"_pq_.made_up_option\0"
        assert messages[-1] == (b"Z", b"I"), messages
        raw.send(pgwire.query("SELECT 1"))
        assert [tag for tag, _ in raw.read_until_ready()] == [b"T", b"D", b"C", b"Z"]
        raw.send(pgwire.TERMINATE)
