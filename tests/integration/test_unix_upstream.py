"""--upstream DIR:PORT: staleguard reaches PostgreSQL over its Unix-domain socket, as libpq does for a
host that is an absolute path. Everything that goes upstream goes there: sessions, checked writes,
cancel requests; and a socket that is not there is named in the client's error."""

import subprocess

import psycopg
import psycopg2
import pytest

from rules_support import ONE_ACCOUNT, assert_lost_update_refused, guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)
from support import STALEGUARD_BIN, assert_cancel_interrupts_sleep, free_port


@pytest.fixture
def socket_upstream(pg):
    if not pg.socket_dir:
        pytest.skip("STALEGUARD_TEST_PGSOCKETDIR is not set (run through scripts/test.sh)")
    return pg.socket_address


def test_a_session_reaches_the_server_over_its_socket(pg, proxy_factory, socket_upstream):
    proxy = proxy_factory(upstream=socket_upstream)
    conn = proxy.connect()
    with conn.cursor() as cur:
        # A Unix-domain client has no address: the server saw the socket, not TCP.
        cur.execute("SELECT inet_client_addr() IS NULL, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True, False)
        cur.execute("SELECT %s::int + 1, %s::text", (41, "über"))
        assert cur.fetchone() == (42, "über")
    conn.close()
    assert "upstream_tls=none" in proxy.log()

    # The extended protocol with a named server-side statement, too.
    with psycopg.connect(host=proxy.host, port=proxy.port, dbname=pg.db, user=pg.admin_user,
                         password=pg.admin_password, prepare_threshold=0) as conn3:
        for n in range(3):
            assert conn3.execute("SELECT %s::int * 2", (n,)).fetchone() == (n * 2,)


def test_a_stale_write_is_refused_over_the_socket(guarded, socket_upstream):
    db = guarded(rules_text(table_rule("accounts")), ONE_ACCOUNT, upstream=socket_upstream)
    assert_lost_update_refused(db, db.connect(), db.connect())


def test_a_cancel_request_goes_to_the_socket(pg, proxy_factory, socket_upstream):
    proxy = proxy_factory(upstream=socket_upstream)
    conn = proxy.connect()
    assert_cancel_interrupts_sleep(conn, after=1.0, within=6)
    conn.close()


def test_a_missing_socket_is_named_in_the_error(pg, proxy_factory, tmp_path):
    proxy = proxy_factory(upstream=f"{tmp_path}:{pg.port}")
    with pytest.raises(psycopg2.OperationalError) as refused:
        proxy.connect(connect_timeout=5)
    message = str(refused.value)
    assert f'staleguard could not connect to upstream server on socket "{tmp_path}/.s.PGSQL.{pg.port}"' in message
    assert "No such file or directory" in message
    # The proxy stays up for the next client.
    assert proxy.alive()


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_tls_that_a_socket_cannot_carry_is_refused_at_start(pg, mode, socket_upstream):
    result = subprocess.run(
        [str(STALEGUARD_BIN), "--listen", f"127.0.0.1:{free_port()}", "--upstream", socket_upstream,
         "--upstream-tls", mode],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"--upstream-tls {mode} cannot be met over a Unix-domain socket" in result.stderr


@pytest.mark.parametrize("flag", ["--listen", "--metrics"])
def test_a_socket_directory_is_refused_for_tcp_listeners(pg, tmp_path, flag):
    flags = {"--listen": f"127.0.0.1:{free_port()}", "--upstream": pg.address, flag: f"{tmp_path}:6432"}
    result = subprocess.run(
        [str(STALEGUARD_BIN), *[word for pair in flags.items() for word in pair]],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{flag} takes a TCP HOST:PORT; a socket directory ('{tmp_path}:6432') is understood by --upstream" \
        in result.stderr
    # Whoever wrote --listen DIR:PORT wanted clients on a socket: the message says how.
    assert ("--unix-socket-dir DIR" in result.stderr) == (flag == "--listen")
