"""--unix-socket-dir DIR: staleguard also accepts clients on DIR/.s.PGSQL.PORT (PORT being
--listen's), the file PostgreSQL and pgbouncer listen on, so `psql -h DIR -p PORT` and every libpq
driver given a directory as host reach it. The file is replaced when a dead process left it,
refused when a live server owns it, and removed at shutdown."""

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

import psycopg
import psycopg2
import pytest

from rules_support import ONE_ACCOUNT, assert_lost_update_refused, guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)
from support import STALEGUARD_BIN, assert_cancel_interrupts_sleep, free_port, wait_until


@pytest.fixture
def socket_dir():
    # Not tmp_path: a socket's path must fit in 107 bytes, and pytest's directories are long.
    directory = tempfile.mkdtemp(prefix="sg-sock-", dir="/tmp")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def socket_file(directory, port):
    return os.path.join(directory, f".s.PGSQL.{port}")


def connect_over_socket(pg, proxy, directory, user=None, dbname=None, **kwargs):
    user = user or pg.admin_user
    conn = psycopg2.connect(host=directory, port=proxy.port, dbname=dbname or pg.db, user=user,
                            password=pg.password_of(user), connect_timeout=10, **kwargs)
    conn.autocommit = True
    return conn


def test_psql_and_drivers_reach_the_server_through_the_socket(pg, proxy_factory, socket_dir):
    proxy = proxy_factory("--unix-socket-dir", socket_dir)
    path = socket_file(socket_dir, proxy.port)
    # Any local user may connect, as to PostgreSQL's own socket: authentication decides the rest.
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777
    wait_until(lambda: f"staleguard listening on socket {path}" in proxy.log(), 10, what="the socket's log line")

    conn = connect_over_socket(pg, proxy, socket_dir)
    with conn.cursor() as cur:
        cur.execute("SELECT %s::int + 1, %s::text", (41, "über"))
        assert cur.fetchone() == (42, "über")
    conn.close()
    with psycopg.connect(host=socket_dir, port=proxy.port, dbname=pg.db, user=pg.scram_user,
                         password=pg.password_of(pg.scram_user), prepare_threshold=0) as conn3:
        for n in range(3):
            assert conn3.execute("SELECT %s::int * 2", (n,)).fetchone() == (n * 2,)

    env = dict(os.environ, PGPASSWORD=pg.password_of(pg.admin_user), PGCONNECT_TIMEOUT="10")
    result = subprocess.run(
        [pg.tool("psql"), "-X", "-At", "-h", socket_dir, "-p", str(proxy.port), "-U", pg.admin_user,
         "-d", pg.db, "-c", "SELECT 'through the socket'"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "through the socket"
    assert "[local]] session opened" in proxy.log()

    # TCP clients are served as before.
    tcp = proxy.connect()
    with tcp.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    tcp.close()


def test_a_stale_write_over_the_socket_is_refused(pg, guarded, socket_dir):
    db = guarded(rules_text(table_rule("accounts")), ONE_ACCOUNT, extra=("--unix-socket-dir", socket_dir))
    # One writer on the socket and one on TCP: the versions they read are kept per session alike.
    a = connect_over_socket(pg, db.proxy, socket_dir, dbname=db.db)
    assert_lost_update_refused(db, a, db.connect())
    a.close()


def test_a_cancel_request_over_the_socket_cancels(pg, proxy_factory, socket_dir):
    proxy = proxy_factory("--unix-socket-dir", socket_dir)
    conn = connect_over_socket(pg, proxy, socket_dir)
    # libpq sends the cancel request to the same place: a new connection to the socket.
    assert_cancel_interrupts_sleep(conn, after=0.5, within=15)
    conn.close()
    wait_until(lambda: "cancel request forwarded" in proxy.log(), 10, what="the cancel in the log")


def test_show_sessions_names_socket_clients_local(pg, proxy_factory, socket_dir):
    proxy = proxy_factory("--unix-socket-dir", socket_dir, "--admin-users", pg.admin_user)
    client = connect_over_socket(pg, proxy, socket_dir)
    console = connect_over_socket(pg, proxy, socket_dir, dbname="staleguard")
    with console.cursor() as cur:
        cur.execute("SHOW SESSIONS")
        columns = [d.name for d in cur.description]
        rows = [dict(zip(columns, row)) for row in cur.fetchall()]
    addresses = {str(value) for row in rows for value in row.values()}
    assert "[local]" in addresses, rows
    console.close()
    client.close()


def test_the_socket_file_is_removed_at_shutdown(pg, proxy_factory, socket_dir):
    proxy = proxy_factory("--unix-socket-dir", socket_dir)
    path = socket_file(socket_dir, proxy.port)
    conn = connect_over_socket(pg, proxy, socket_dir)
    assert os.path.exists(path)
    conn.close()
    assert proxy.stop() == 0
    assert not os.path.exists(path)


def test_a_socket_file_left_by_a_dead_process_is_replaced(pg, proxy_factory, socket_dir):
    killed = proxy_factory("--unix-socket-dir", socket_dir)
    port, path = killed.port, socket_file(socket_dir, killed.port)
    # SIGKILL leaves the file behind, with nobody accepting on it.
    killed.expected_exit = -signal.SIGKILL
    killed.stop(signal.SIGKILL)
    assert os.path.exists(path)

    again = subprocess.Popen([str(STALEGUARD_BIN), "--listen", f"127.0.0.1:{port}", "--upstream", pg.address,
                              "--unix-socket-dir", socket_dir],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def serves():
            assert again.poll() is None, again.stdout.read()
            try:
                return connect_over_socket(pg, killed, socket_dir)
            except psycopg2.OperationalError:
                return None
        conn = wait_until(serves, 15, what="the restarted staleguard on the socket")
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        conn.close()
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(30) == 0
    assert not os.path.exists(path)


def start_expecting_failure(pg, *flags):
    return subprocess.run([str(STALEGUARD_BIN), "--upstream", pg.address, *flags],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_a_socket_a_live_server_accepts_on_is_not_taken_over(pg, socket_dir):
    port = free_port()
    path = socket_file(socket_dir, port)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(path)
        live.listen(1)
        result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{port}", "--unix-socket-dir", socket_dir)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"cannot listen on socket {path}: another server is already accepting connections on {path}" \
            in result.stdout + result.stderr
        assert os.path.exists(path)


def test_a_path_that_is_not_a_socket_is_left_alone(pg, socket_dir):
    port = free_port()
    path = socket_file(socket_dir, port)
    with open(path, "w") as f:
        f.write("not a socket\n")
    result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{port}", "--unix-socket-dir", socket_dir)
    assert result.returncode == 1
    assert f"{path} exists and is not a socket; not replacing it" in result.stdout + result.stderr
    with open(path) as f:
        assert f.read() == "not a socket\n"


@pytest.mark.parametrize("directory, message", [
    ("relative/dir", "--unix-socket-dir 'relative/dir' must be an absolute path"),
    ("/nonexistent/staleguard", "--unix-socket-dir '/nonexistent/staleguard' is not an existing directory"),
])
def test_a_bad_directory_is_refused_at_start(pg, directory, message):
    result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{free_port()}", "--unix-socket-dir", directory)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_path_too_long_for_a_socket_is_refused_clearly(pg, socket_dir):
    deep = os.path.join(socket_dir, "d" * 100)
    os.mkdir(deep)
    result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{free_port()}", "--unix-socket-dir", deep)
    assert result.returncode == 1
    assert "longer than the 107 bytes a Unix-domain socket allows" in result.stdout + result.stderr


def test_the_config_file_names_the_socket_directory(pg, proxy_factory, socket_dir, tmp_path):
    config = tmp_path / "staleguard.yaml"
    config.write_text(f"unix_socket_dir: {socket_dir}\n")
    proxy = proxy_factory("--config", str(config))
    conn = connect_over_socket(pg, proxy, socket_dir)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def another_group():
    """A group this process may give a file to, other than the one its files get by default (root
    may give any; others only their supplementary groups); the default one if there is no other."""
    import grp

    candidates = [g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    others = sorted(gid for gid in candidates if gid != os.getegid())
    return grp.getgrgid(others[0] if others else os.getegid())


def test_the_socket_mode_and_group_restrict_who_may_connect(pg, proxy_factory, socket_dir):
    group = another_group()
    proxy = proxy_factory("--unix-socket-dir", socket_dir, "--unix-socket-mode", "0770",
                          "--unix-socket-group", str(group.gr_gid))
    status = os.stat(socket_file(socket_dir, proxy.port))
    assert stat.S_IMODE(status.st_mode) == 0o770
    assert status.st_gid == group.gr_gid
    conn = connect_over_socket(pg, proxy, socket_dir)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def test_the_config_file_sets_the_socket_mode_and_group_by_name(pg, proxy_factory, socket_dir, tmp_path):
    group = another_group()
    config = tmp_path / "staleguard.yaml"
    config.write_text(f"unix_socket_dir: {socket_dir}\nunix_socket_mode: \"0700\"\nunix_socket_group: {group.gr_name}\n")
    proxy = proxy_factory("--config", str(config))
    status = os.stat(socket_file(socket_dir, proxy.port))
    assert (stat.S_IMODE(status.st_mode), status.st_gid) == (0o700, group.gr_gid)
    # A flag wins over the file.
    proxy.stop()
    proxy = proxy_factory("--config", str(config), "--unix-socket-mode", "0750")
    assert stat.S_IMODE(os.stat(socket_file(socket_dir, proxy.port)).st_mode) == 0o750


@pytest.mark.parametrize("mode", ["0778", "rwx", "01777", "77"])
def test_a_socket_mode_that_is_not_octal_is_refused_at_start(pg, socket_dir, mode):
    result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{free_port()}", "--unix-socket-dir", socket_dir,
                                     "--unix-socket-mode", mode)
    assert result.returncode == 2
    assert f"--unix-socket-mode '{mode}' must be permission bits in octal, such as 0770" in result.stderr


def test_an_unknown_socket_group_is_refused_and_leaves_no_socket(pg, socket_dir):
    port = free_port()
    path = socket_file(socket_dir, port)
    result = start_expecting_failure(pg, "--listen", f"127.0.0.1:{port}", "--unix-socket-dir", socket_dir,
                                     "--unix-socket-group", "no_such_group_sg")
    assert result.returncode == 1
    assert f"cannot listen on socket {path}: there is no group no_such_group_sg" in result.stdout + result.stderr
    assert not os.path.exists(path)
