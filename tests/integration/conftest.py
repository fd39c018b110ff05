"""Fixtures for the integration tests: the PostgreSQL that scripts/test.sh started (read from
STALEGUARD_TEST_* variables), staleguard processes started on free ports in front of it, and helpers
for fresh databases and a second, stoppable PostgreSQL."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from support import STALEGUARD_BIN, free_port, wait_until


# Lines in staleguard's stderr that mean a crash or a bug whatever the test did. Log lines look
# like "2024-05-01 12:00:00.123 info  message" (main.cpp's spdlog pattern).
CRASH_PATTERNS = re.compile(
    r"AddressSanitizer|LeakSanitizer|runtime error:|terminate called|Segmentation fault"
    r"|^\S+ \S+ critical\b"
)
# Log lines at error level; a test that provokes them on purpose says so with allow_log().
ERROR_LINE = re.compile(r"^\S+ \S+ error\b")


@dataclass(frozen=True)
class PgEnv:
    host: str
    port: int
    db: str
    admin_user: str
    admin_password: str
    trust_user: str
    md5_user: str
    md5_password: str
    scram_user: str
    scram_password: str
    pgbin: Path
    os_user: str
    socket_dir: str  # the server's Unix-domain socket directory; empty when not known

    @property
    def socket_address(self):
        """--upstream for the server's Unix-domain socket (DIR:PORT, as libpq names it)."""
        return f"{self.socket_dir}:{self.port}"

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def password_of(self, user):
        return {
            self.admin_user: self.admin_password,
            self.md5_user: self.md5_password,
            self.scram_user: self.scram_password,
        }.get(user)

    def tool(self, name):
        """A PostgreSQL 15 client program (psql, pgbench, ...)."""
        path = self.pgbin / name
        return str(path) if path.exists() else name

    def connect_direct(self, user=None, dbname=None, autocommit=True, **kwargs):
        user = user or self.admin_user
        conn = psycopg2.connect(
            host=self.host, port=self.port, dbname=dbname or self.db, user=user,
            password=self.password_of(user), connect_timeout=10, **kwargs)
        conn.autocommit = autocommit
        return conn


@pytest.fixture(scope="session")
def pg():
    env = os.environ
    if "STALEGUARD_TEST_PGPORT" not in env:
        pytest.exit(
            "STALEGUARD_TEST_* is not set: run the integration tests through scripts/test.sh, "
            "which starts the PostgreSQL they need", returncode=2)
    return PgEnv(
        host=env.get("STALEGUARD_TEST_PGHOST", "127.0.0.1"),
        port=int(env["STALEGUARD_TEST_PGPORT"]),
        db=env.get("STALEGUARD_TEST_DB", "sgtest"),
        admin_user=env["STALEGUARD_TEST_ADMIN_USER"],
        admin_password=env["STALEGUARD_TEST_ADMIN_PASSWORD"],
        trust_user=env["STALEGUARD_TEST_TRUST_USER"],
        md5_user=env["STALEGUARD_TEST_MD5_USER"],
        md5_password=env["STALEGUARD_TEST_MD5_PASSWORD"],
        scram_user=env["STALEGUARD_TEST_SCRAM_USER"],
        scram_password=env["STALEGUARD_TEST_SCRAM_PASSWORD"],
        pgbin=Path(env.get("STALEGUARD_TEST_PGBIN", "/usr/lib/postgresql/15/bin")),
        os_user=env.get("STALEGUARD_TEST_PG_OS_USER", "postgres"),
        socket_dir=env.get("STALEGUARD_TEST_PGSOCKETDIR", ""),
    )


@pytest.fixture
def admin(pg):
    """An autocommit superuser connection straight to PostgreSQL, for setup and inspection."""
    conn = pg.connect_direct()
    yield conn
    conn.close()


class Proxy:
    """One staleguard process; its stderr goes to a file the test can read."""

    def __init__(self, pg, listen_port, upstream, flags, log_path):
        self.pg = pg
        self.host = "127.0.0.1"
        self.port = listen_port
        self.upstream = upstream
        self.flags = flags
        self.log_path = log_path
        self.allowed = []
        self.expected_exit = 0
        self.returncode = None
        self.signalled = False
        self.command = [
            str(STALEGUARD_BIN), "--listen", f"{self.host}:{listen_port}",
            "--upstream", upstream, *flags,
        ]
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def address(self):
        return (self.host, self.port)

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def alive(self):
        return self.process.poll() is None

    def allow_log(self, pattern):
        """Error-level log lines matching pattern are expected by this test."""
        self.allowed.append(re.compile(pattern))

    def connect(self, user=None, password=None, dbname=None, autocommit=True, **kwargs):
        """A psycopg2 connection through the proxy (libpq sends SSLRequest first: sslmode=prefer)."""
        user = user or self.pg.admin_user
        if password is None:
            password = self.pg.password_of(user)
        kwargs.setdefault("connect_timeout", 10)
        conn = psycopg2.connect(
            host=self.host, port=self.port, dbname=dbname or self.pg.db, user=user,
            password=password, **kwargs)
        conn.autocommit = autocommit
        return conn

    def dsn(self, user=None, dbname=None):
        user = user or self.pg.admin_user
        return f"host={self.host} port={self.port} dbname={dbname or self.pg.db} user={user}"

    def wait_ready(self, timeout=15):
        def ready():
            if not self.alive():
                raise AssertionError(
                    f"staleguard exited with {self.process.returncode} while starting:\n{self.log()}")
            if "staleguard listening on" in self.log():
                return True
            return False
        wait_until(ready, timeout, what=f"staleguard to listen on {self.port}")

    def send_signal(self, sig):
        self.signalled = True
        self.process.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=40):
        """Signals the proxy (unless the test already did) and waits for it; returns its exit
        code."""
        if self.returncode is None:
            if self.alive() and not self.signalled:
                self.send_signal(sig)
            try:
                self.returncode = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                raise AssertionError(
                    f"staleguard did not exit within {timeout}s of {sig!r}:\n{self.tail()}")
            self._log.close()
        return self.returncode

    def tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])

    def problems(self):
        """Log lines that indicate a crash, or error-level lines no test declared."""
        bad = []
        for line in self.log().splitlines():
            if CRASH_PATTERNS.search(line):
                bad.append(line)
            elif ERROR_LINE.search(line) and not any(p.search(line) for p in self.allowed):
                bad.append(line)
        return bad


@pytest.fixture
def proxy_factory(pg, tmp_path):
    """start(*flags, upstream=None, log_level="debug") -> a running Proxy. On teardown each one gets
    SIGTERM and must exit 0 with no crash (or unexpected error-level) lines in its log."""
    started = []

    def start(*flags, upstream=None, log_level="debug", wait=True):
        assert STALEGUARD_BIN.exists(), f"no staleguard binary at {STALEGUARD_BIN}"
        for attempt in range(3):
            port = free_port()
            log_path = tmp_path / f"staleguard-{len(started)}-{attempt}.log"
            all_flags = ["--log-level", log_level, *flags] if log_level else list(flags)
            proxy = Proxy(pg, port, upstream or pg.address, all_flags, log_path)
            if not wait:
                started.append(proxy)
                return proxy
            try:
                proxy.wait_ready()
            except AssertionError:
                if not proxy.alive() and "in use" in proxy.log().lower():
                    continue  # someone took the port between our probe and its bind
                proxy.stop(signal.SIGKILL)
                raise
            started.append(proxy)
            return proxy
        raise AssertionError("could not find a free port for staleguard")

    yield start

    failures = []
    for proxy in started:
        if proxy.returncode is None:
            try:
                code = proxy.stop()
            except AssertionError as e:
                failures.append(str(e))
                continue
        else:
            code = proxy.returncode
        if code != proxy.expected_exit:
            failures.append(f"staleguard exited {code}, expected {proxy.expected_exit}:\n{proxy.tail()}")
        problems = proxy.problems()
        if problems:
            failures.append("unexpected lines in staleguard's log:\n" + "\n".join(problems[:20]))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def proxy(proxy_factory):
    """A staleguard in front of the test PostgreSQL, no rules, default limits."""
    return proxy_factory()


@pytest.fixture
def fresh_db(pg, admin):
    """create(owner=None) -> the name of a new empty database, dropped after the test."""
    created = []

    def create(owner=None):
        name = f"sg_{uuid.uuid4().hex[:12]}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 OWNER "{owner or pg.admin_user}"')
        created.append(name)
        return name

    yield create
    with admin.cursor() as cur:
        for name in created:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SecondCluster:
    """A PostgreSQL of the test's own (trust for everyone), that the test may stop and restart."""

    def __init__(self, pg):
        self.pg = pg
        self.dir = Path(tempfile.mkdtemp(prefix="staleguard-pg2."))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, user=pg.os_user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale")
        conf = (
            f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.dir}'\nfsync = off\nmax_connections = 50\n"
        )
        self._run("sh", "-c", f"cat >> '{self.data}/postgresql.conf'", input=conf)
        self.start()

    def _run(self, program, *args, input=None):
        path = str(self.pg.pgbin / program) if (self.pg.pgbin / program).exists() else program
        command = [path, *args]
        if self.as_root:
            command = ["runuser", "-u", self.pg.os_user, "--", *command]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self):
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except AssertionError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def second_cluster(pg):
    cluster = SecondCluster(pg)
    yield cluster
    cluster.destroy()
