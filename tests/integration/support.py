"""Small helpers shared by the integration tests."""

import os
import socket
import threading
import time
from pathlib import Path

import psycopg2.errors
import pytest

SOURCE_DIR = Path(os.environ.get("STALEGUARD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
# CMake sets STALEGUARD_BIN for ctest; by hand, the release build is used.
STALEGUARD_BIN = Path(os.environ.get("STALEGUARD_BIN", SOURCE_DIR / "build" / "staleguard"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sqlstate_of(excinfo_or_error):
    error = getattr(excinfo_or_error, "value", excinfo_or_error)
    return getattr(error, "pgcode", None)


def backend_count(admin, application_name):
    with admin.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (application_name,))
        return cur.fetchone()[0]


def assert_cancel_interrupts_sleep(conn, after, within):
    """Cancels a long pg_sleep on psycopg2 connection `conn` from a timer `after` seconds in: the
    query must fail with 57014 within `within` seconds, and the connection stay usable."""
    timer = threading.Timer(after, conn.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(psycopg2.errors.QueryCanceled) as cancelled:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(30)")
    finally:
        timer.join()
    elapsed = time.monotonic() - started
    assert cancelled.value.pgcode == "57014"
    assert elapsed < within, f"cancel took {elapsed:.1f}s"
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
