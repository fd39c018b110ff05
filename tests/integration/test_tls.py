"""TLS on both sides: clients → staleguard (--tls-cert/--tls-key/--tls-mode, SSLRequest and direct
TLS) and staleguard → PostgreSQL (--upstream-tls), with real psql, psycopg2 and Python's ssl module,
against a test CA made here with openssl."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import psycopg2
import pytest

import pgwire
from conftest import SecondCluster
from support import STALEGUARD_BIN, sqlstate_of

TLS_SCRAM_USER = "sg_tls_scram"
TLS_SCRAM_PASSWORD = "tls-scram-secret"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """A test CA with a server certificate for localhost and 127.0.0.1, and an unrelated CA."""

    def __init__(self, directory):
        self.dir = directory
        d = str(directory)
        for name in ("ca", "wrong_ca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                    f"{name}.pem", "-days", "2", "-subj", f"/CN=staleguard test {name}", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=localhost", cwd=d)
        (directory / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
        # staleguard's own certificate for the same names, and a key that belongs to neither.
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "proxy.key", "-out", "proxy.csr",
                "-subj", "/CN=localhost", cwd=d)
        openssl("x509", "-req", "-in", "proxy.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "proxy.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.csr",
                "-subj", "/CN=other", cwd=d)
        # Client certificates: one from the test CA, one from the unrelated CA.
        for name, ca in (("client", "ca"), ("stranger", "wrong_ca")):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                    "-subj", f"/CN={name}", cwd=d)
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                    "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", cwd=d)
            os.chmod(directory / f"{name}.key", 0o600)
        self.ca = directory / "ca.pem"
        self.wrong_ca = directory / "wrong_ca.pem"
        self.cert = directory / "server.pem"
        self.key = directory / "server.key"
        self.other_key = directory / "other.key"
        self.proxy_cert = directory / "proxy.pem"
        self.proxy_key = directory / "proxy.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_cluster(pg, pki):
    """A PostgreSQL with ssl = on (our test CA's certificate); TLS_SCRAM_USER must come over
    hostssl with SCRAM, everyone else is trusted."""
    cluster = SecondCluster(pg)
    try:
        for source, name in ((pki.cert, "server.crt"), (pki.key, "server.key")):
            target = cluster.data / name
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
            if cluster.as_root:
                shutil.chown(target, user=pg.os_user)
        cluster._run("sh", "-c", f"cat >> '{cluster.data}/postgresql.conf'",
                     # 127.0.0.2 reaches the same server under an address the certificate lacks.
                     input="\nlisten_addresses = '127.0.0.1,127.0.0.2'\n"
                           "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                           "password_encryption = 'scram-sha-256'\n")
        cluster._run("sh", "-c", f"cat > '{cluster.data}/pg_hba.conf'",
                     input="local all all trust\n"
                           f"hostssl all {TLS_SCRAM_USER} 127.0.0.0/8 scram-sha-256\n"
                           f"host all {TLS_SCRAM_USER} 127.0.0.0/8 reject\n"
                           "host all all 127.0.0.0/8 trust\n")
        cluster.stop()
        cluster.start()
        cluster._run("psql", "-h", str(cluster.dir), "-p", str(cluster.port), "-U", "postgres", "-d", "postgres",
                     "-c", f"CREATE ROLE {TLS_SCRAM_USER} LOGIN PASSWORD '{TLS_SCRAM_PASSWORD}'")
        yield cluster
    finally:
        cluster.destroy()


def client_tls_flags(pki, *extra, shared=True):
    """staleguard's TLS flags: by default the certificate the TLS cluster has too (shared=True)."""
    if shared:
        return ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key), *extra)
    return ("--tls-cert", str(pki.proxy_cert), "--tls-key", str(pki.proxy_key), *extra)


def psql(pg, proxy, conninfo, *commands):
    args = [pg.tool("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo]
    for command in commands:
        args += ["-c", command]
    env = dict(os.environ, PGPASSWORD=pg.admin_password, PGCONNECT_TIMEOUT="10")
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def proxy_conninfo(pg, proxy, host="127.0.0.1", user=None, dbname=None, **params):
    parts = [f"host={host}", f"port={proxy.port}", f"dbname={dbname or pg.db}", f"user={user or pg.admin_user}"]
    parts += [f"{key}={value}" for key, value in params.items()]
    return " ".join(parts)


def tls_context(ca, alpn=("postgresql",)):
    context = ssl.create_default_context(cafile=str(ca))
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def direct_tls(proxy, context, server_hostname="localhost"):
    """A RawConnection whose socket speaks TLS from the first byte (libpq 17's sslnegotiation=direct)."""
    raw = pgwire.RawConnection(*proxy.address)
    raw.sock = context.wrap_socket(raw.sock, server_hostname=server_hostname)
    return raw


def connect(proxy, host="127.0.0.1", user=None, password=None, dbname=None, **kwargs):
    """psycopg2 through the proxy, with any host name (for verify-full) and libpq parameters."""
    user = user or proxy.pg.admin_user
    if password is None:
        password = proxy.pg.password_of(user)
    conn = psycopg2.connect(host=host, port=proxy.port, dbname=dbname or proxy.pg.db, user=user,
                            password=password, connect_timeout=10, **kwargs)
    conn.autocommit = True
    return conn


def still_serves(pg, proxy):
    conn = connect(proxy, user=pg.trust_user)
    with conn.cursor() as cur:
        cur.execute("SELECT 41 + 1")
        assert cur.fetchone() == (42,)
    conn.close()


# --- clients → staleguard ---------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"sslmode": "require"},
    {"sslmode": "verify-full", "host": "localhost"},
    {"sslmode": "verify-full", "host": "127.0.0.1"},
], ids=["require", "verify-full-localhost", "verify-full-ip"])
def test_psql_over_tls(pg, pki, proxy_factory, params):
    proxy = proxy_factory(*client_tls_flags(pki))
    params = dict(params)
    host = params.pop("host", "127.0.0.1")
    conninfo = proxy_conninfo(pg, proxy, host=host, sslrootcert=pki.ca, **params)
    result = psql(pg, proxy, conninfo, "SELECT 'through ' || 'tls'", r"\conninfo")
    assert result.returncode == 0, result.stderr
    assert "through tls" in result.stdout
    assert "SSL connection (protocol: TLSv1.3" in result.stdout
    assert "client_tls=TLSv1.3" in proxy.log()


def test_psycopg2_verify_full_is_tls_to_staleguard(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    conn = connect(proxy, host="localhost", sslmode="verify-full", sslrootcert=str(pki.ca))
    assert conn.info.ssl_in_use
    assert conn.info.ssl_attribute("protocol") in ("TLSv1.2", "TLSv1.3")
    with conn.cursor() as cur:
        # The upstream (the main test cluster) has ssl off: TLS ends at staleguard.
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (False,)
    conn.close()


def test_verify_full_against_the_wrong_ca_fails(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, host="localhost", sslmode="verify-full", sslrootcert=str(pki.wrong_ca))
    assert "certificate verify failed" in str(failed.value)
    still_serves(pg, proxy)


def test_client_certificates_are_verified_when_sent(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki, "--tls-ca", str(pki.ca)))
    trusted = connect(proxy, user=pg.trust_user, sslmode="require", sslcert=str(pki.dir / "client.pem"),
                      sslkey=str(pki.dir / "client.key"))
    assert trusted.info.ssl_in_use
    trusted.close()
    # Asked for, not mandatory (no hba here to make it so).
    anonymous = connect(proxy, user=pg.trust_user, sslmode="require", sslcert="/nonexistent", sslkey="/nonexistent")
    anonymous.close()
    with pytest.raises(psycopg2.OperationalError):
        connect(proxy, user=pg.trust_user, sslmode="require", sslcert=str(pki.dir / "stranger.pem"),
                sslkey=str(pki.dir / "stranger.key"))
    still_serves(pg, proxy)


def test_tls_mode_require_refuses_plaintext_with_28000(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki, "--tls-mode", "require"))
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user=pg.trust_user, sslmode="disable")
    assert "TLS is required" in str(failed.value)
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.trust_user, pg.db)
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "28000" and errors[0]["S"] == "FATAL", messages
    # sslmode=prefer (the default) goes to TLS and is accepted.
    conn = connect(proxy, user=pg.trust_user)
    assert conn.info.ssl_in_use
    conn.close()


def test_tls_mode_require_still_forwards_plaintext_cancel(pg, pki, proxy_factory):
    # libpq 15 sends CancelRequest on a new plaintext connection, as PostgreSQL accepts.
    proxy = proxy_factory(*client_tls_flags(pki, "--tls-mode", "require"))
    conn = connect(proxy, user=pg.trust_user, sslmode="require")
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(20)")
    timer.join()
    conn.close()


def test_socket_clients_are_offered_no_tls_and_served_under_require(pg, pki, proxy_factory):
    # As PostgreSQL: no TLS over a Unix-domain socket (SSLRequest gets N), and a local client is
    # not what --tls-mode require guards against.
    directory = tempfile.mkdtemp(prefix="sg-sock-", dir="/tmp")
    try:
        proxy = proxy_factory(*client_tls_flags(pki, "--tls-mode", "require", "--unix-socket-dir", directory))
        with pgwire.RawConnection(directory, proxy.port) as raw:
            raw.send(pgwire.ssl_request())
            assert raw.read_byte(5) == b"N"
            messages = raw.startup(pg.trust_user, pg.db)
        assert not pgwire.errors_in(messages), messages
        assert messages[-1][0] == b"Z", messages
        conn = psycopg2.connect(host=directory, port=proxy.port, dbname=pg.db, user=pg.trust_user,
                                connect_timeout=10)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        conn.close()
        # Over TCP, require still refuses plaintext.
        with pytest.raises(psycopg2.OperationalError) as failed:
            connect(proxy, user=pg.trust_user, sslmode="disable")
        assert "TLS is required" in str(failed.value)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_tls_mode_disable_with_a_certificate_answers_n(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki, "--tls-mode", "disable"))
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user=pg.trust_user, sslmode="require")
    assert "does not support SSL" in str(failed.value)
    conn = connect(proxy, user=pg.trust_user, sslmode="prefer")
    assert not conn.info.ssl_in_use
    conn.close()


def test_ssl_request_inside_tls_is_a_protocol_violation(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(pgwire.ssl_request())
        assert raw.read_byte(5) == b"S"
        raw.sock = tls_context(pki.ca, alpn=None).wrap_socket(raw.sock, server_hostname="localhost")
        raw.send(pgwire.ssl_request())
        messages = raw.read_until_closed()
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "08P01", messages
    still_serves(pg, proxy)


def test_gssenc_declined_then_tls_accepted(pg, pki, proxy_factory):
    # libpq with gssencmode=prefer asks for GSS encryption first, then TLS.
    proxy = proxy_factory(*client_tls_flags(pki))
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(pgwire.gssenc_request())
        assert raw.read_byte(5) == b"N"
        raw.send(pgwire.ssl_request())
        assert raw.read_byte(5) == b"S"
        raw.sock = tls_context(pki.ca, alpn=None).wrap_socket(raw.sock, server_hostname="localhost")
        messages = raw.startup(pg.trust_user, pg.db)
        assert messages[-1] == (b"Z", b"I"), messages
        assert pgwire.data_rows(raw.simple_query("SELECT 'over tls'")) == [["over tls"]]


def test_data_after_ssl_request_is_refused_before_the_handshake(pg, pki, proxy_factory):
    # CVE-2021-23214: bytes sent before the answer must not pass for encrypted ones.
    proxy = proxy_factory(*client_tls_flags(pki))
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(pgwire.ssl_request() + pgwire.startup_packet(pg.trust_user, pg.db))
        messages = raw.read_until_closed()
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "08P01", messages


def test_direct_tls_with_alpn(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with direct_tls(proxy, tls_context(pki.ca)) as raw:
        assert raw.sock.selected_alpn_protocol() == "postgresql"
        messages = raw.startup(pg.trust_user, pg.db)
        assert messages[-1] == (b"Z", b"I"), messages
        rows = pgwire.data_rows(raw.simple_query("SELECT 1"))
        assert rows == [["1"]]
    assert "client TLS (direct)" in proxy.log()


def test_direct_tls_scram_user(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with direct_tls(proxy, tls_context(pki.ca)) as raw:
        messages = raw.startup(pg.scram_user, pg.db, pg.scram_password)
        assert messages[-1] == (b"Z", b"I"), messages


def test_direct_tls_without_alpn_is_refused(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with direct_tls(proxy, tls_context(pki.ca, alpn=None)) as raw:
        raw.send(pgwire.startup_packet(pg.trust_user, pg.db))
        messages = raw.read_until_closed()
    assert all(tag != b"Z" for tag, _ in messages), messages
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "08P01" and "ALPN" in errors[0]["M"], messages
    still_serves(pg, proxy)


def test_direct_tls_with_another_alpn_is_refused_in_the_handshake(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki))
    with pytest.raises(ssl.SSLError):
        with direct_tls(proxy, tls_context(pki.ca, alpn=("http/1.1",))):
            pass
    still_serves(pg, proxy)


def test_direct_tls_is_not_sniffed_without_tls(pg, proxy):
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(b"\x16\x03\x01\x00\x05hello")
        messages = raw.read_until_closed()
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "08P01", messages


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20,  # a ClientHello cut short
    b"\x16" + os.urandom(300),                                    # a handshake record of noise
    b"\x16",                                                      # one byte, then nothing
], ids=["half-client-hello", "noise", "one-byte"])
def test_broken_handshakes_end_only_their_session(pg, pki, proxy_factory, garbage):
    proxy = proxy_factory(*client_tls_flags(pki), "--startup-timeout", "2")
    other = connect(proxy, user=pg.trust_user, host="localhost", sslmode="verify-full", sslrootcert=str(pki.ca))
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(garbage)
        raw.read_until_closed(timeout=10)
    # The same after an SSLRequest.
    with pgwire.RawConnection(*proxy.address) as raw:
        raw.send(pgwire.ssl_request())
        assert raw.read_byte(5) == b"S"
        raw.send(garbage)
        raw.read_until_closed(timeout=10)
    with other.cursor() as cur:
        cur.execute("SELECT 'still here'")
        assert cur.fetchone() == ("still here",)
    other.close()
    still_serves(pg, proxy)
    assert proxy.alive()


@pytest.mark.parametrize("flags, message", [
    (("--tls-cert", "{cert}"), "--tls-cert needs --tls-key"),
    (("--tls-key", "{key}"), "--tls-key needs --tls-cert"),
    (("--tls-mode", "require"), "--tls-mode require needs --tls-cert and --tls-key"),
    (("--tls-cert", "{cert}", "--tls-key", "{other_key}"), "does not match the certificate"),
    (("--tls-cert", "{cert}", "--tls-key", "{dir}/absent.key"), "absent.key: cannot read: No such file"),
    (("--tls-cert", "{key}", "--tls-key", "{key}"), "not a usable PEM certificate"),
    (("--tls-cert", "{cert}", "--tls-key", "{key}", "--tls-ca", "{dir}/absent.pem"), "--tls-ca"),
    (("--upstream-tls", "verify-full", "--upstream-ca", "{dir}/absent.pem"), "--upstream-ca"),
    (("--upstream-tls", "require", "--upstream-ca", "{ca}"), "verify-full only"),
], ids=["cert-without-key", "key-without-cert", "require-without-cert", "key-mismatch", "missing-key",
        "key-as-cert", "missing-ca", "missing-upstream-ca", "upstream-ca-without-verify-full"])
def test_tls_start_up_errors_exit_2(pki, flags, message):
    names = {"cert": pki.cert, "key": pki.key, "other_key": pki.other_key, "ca": pki.ca, "dir": pki.dir}
    args = [str(STALEGUARD_BIN), "--listen", "127.0.0.1:1", *(f.format(**names) for f in flags)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr


# --- staleguard → PostgreSQL ------------------------------------------------------------------

def test_upstream_verify_full(pg, pki, tls_cluster, proxy_factory):
    proxy = proxy_factory("--upstream-tls", "verify-full", "--upstream-ca", str(pki.ca),
                          upstream=tls_cluster.address)
    conn = connect(proxy, user="postgres", password="", dbname="postgres", sslmode="disable")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ssl_on, version = cur.fetchone()
    assert ssl_on and version.startswith("TLSv1.")
    conn.close()
    assert "upstream_tls=TLSv1." in proxy.log()


def test_upstream_verify_full_by_host_name(pg, pki, tls_cluster, proxy_factory):
    proxy = proxy_factory("--upstream-tls", "verify-full", "--upstream-ca", str(pki.ca),
                          upstream=f"localhost:{tls_cluster.port}")
    conn = connect(proxy, user="postgres", password="", dbname="postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)
    conn.close()


def test_upstream_prefer_is_the_default(pg, tls_cluster, proxy_factory):
    proxy = proxy_factory(upstream=tls_cluster.address)
    conn = connect(proxy, user="postgres", password="", dbname="postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)
    conn.close()


def test_upstream_prefer_falls_back_to_plaintext(pg, proxy_factory):
    proxy = proxy_factory("--upstream-tls", "prefer")
    conn = connect(proxy, user=pg.trust_user)
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (False,)
    conn.close()


def test_upstream_require_against_a_plaintext_server_fails_with_08006(pg, proxy_factory):
    proxy = proxy_factory("--upstream-tls", "require")
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.trust_user, pg.db)
    errors = pgwire.errors_in(messages)
    assert errors and errors[0]["C"] == "08006", messages
    assert "does not support TLS" in errors[0]["M"]
    assert "does not support TLS" in proxy.log()


def test_upstream_verify_full_with_the_wrong_ca_fails_with_08006(pg, pki, tls_cluster, proxy_factory):
    proxy = proxy_factory("--upstream-tls", "verify-full", "--upstream-ca", str(pki.wrong_ca),
                          upstream=tls_cluster.address)
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user="postgres", password="", dbname="postgres")
    assert "certificate verify failed" in str(failed.value)
    assert "certificate verify failed" in proxy.log()


def test_upstream_verify_full_with_a_name_not_in_the_certificate_fails(pg, pki, tls_cluster, proxy_factory):
    # The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server.
    proxy = proxy_factory("--upstream-tls", "verify-full", "--upstream-ca", str(pki.ca),
                          upstream=f"127.0.0.2:{tls_cluster.port}")
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user="postgres", password="", dbname="postgres")
    message = str(failed.value)
    assert "certificate verify failed (IP address mismatch)" in message, message


def scram_via(proxy, pki, **params):
    return connect(proxy, user=TLS_SCRAM_USER, password=TLS_SCRAM_PASSWORD, dbname="postgres", host="localhost",
                   sslrootcert=str(pki.ca), **params)


def upstream_tls_flags(pki, tls_cluster):
    return ("--upstream-tls", "verify-full", "--upstream-ca", str(pki.ca))


def test_scram_over_tls_on_both_sides_with_a_shared_certificate(pg, pki, tls_cluster, proxy_factory):
    # staleguard shows the server's own certificate: tls-server-end-point is the same hash on both
    # legs, so SCRAM-SHA-256-PLUS passes, even when required.
    proxy = proxy_factory(*client_tls_flags(pki), *upstream_tls_flags(pki, tls_cluster), upstream=tls_cluster.address)
    for channel_binding in ("prefer", "require", "disable"):
        conn = scram_via(proxy, pki, sslmode="verify-full", channel_binding=channel_binding)
        assert conn.info.ssl_in_use
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone() == (TLS_SCRAM_USER, True)
        conn.close()
    with pytest.raises(psycopg2.OperationalError):
        connect(proxy, user=TLS_SCRAM_USER, password="wrong", dbname="postgres", sslmode="require")
    env = dict(os.environ, PGPASSWORD=TLS_SCRAM_PASSWORD)
    result = subprocess.run([pg.tool("psql"), "-X", "-A", "-t", "-c", "SELECT 'scram ok'",
                             proxy_conninfo(pg, proxy, host="localhost", user=TLS_SCRAM_USER, dbname="postgres",
                                            sslmode="verify-full", sslrootcert=pki.ca)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and "scram ok" in result.stdout, result.stderr
    assert "channel binding passes" in proxy.log()


def test_scram_over_tls_on_both_sides_with_its_own_certificate(pg, pki, tls_cluster, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki, shared=False), *upstream_tls_flags(pki, tls_cluster),
                          upstream=tls_cluster.address)
    # Without channel binding, SCRAM passes.
    conn = scram_via(proxy, pki, sslmode="verify-full", channel_binding="disable")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)
    conn.close()
    # A plaintext client never offers channel binding.
    conn = scram_via(proxy, pki, sslmode="disable")
    conn.close()
    # require: libpq sees no -PLUS mechanism and refuses by itself, clearly.
    with pytest.raises(psycopg2.OperationalError) as failed:
        scram_via(proxy, pki, sslmode="verify-full", channel_binding="require")
    assert "channel binding is required, but server did not offer" in str(failed.value)
    # prefer (libpq's default) over TLS says "y": I could bind, you did not offer; the server,
    # which is on TLS and can bind, must refuse that as a possible downgrade (RFC 5802).
    with pytest.raises(psycopg2.OperationalError) as failed:
        scram_via(proxy, pki, sslmode="verify-full")
    assert "SCRAM channel binding negotiation error" in str(failed.value)


def test_scram_over_client_tls_with_a_plaintext_upstream(pg, pki, proxy_factory):
    proxy = proxy_factory(*client_tls_flags(pki, shared=False))
    conn = connect(proxy, user=pg.scram_user, host="localhost", sslmode="verify-full", sslrootcert=str(pki.ca))
    assert conn.info.ssl_in_use
    conn.close()
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user=pg.scram_user, sslmode="require", channel_binding="require")
    assert "channel binding" in str(failed.value)


def test_the_server_itself_offers_channel_binding(pki, tls_cluster):
    # What the stripping is about: the server offers SCRAM-SHA-256-PLUS and libpq can require it.
    conn = psycopg2.connect(host="localhost", port=tls_cluster.port, dbname="postgres", user=TLS_SCRAM_USER,
                            password=TLS_SCRAM_PASSWORD, sslmode="verify-full", sslrootcert=str(pki.ca),
                            channel_binding="require", connect_timeout=10)
    conn.close()


@pytest.mark.parametrize("shared, expected", [(False, [b"SCRAM-SHA-256"]),
                                              (True, [b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"])],
                         ids=["own-certificate", "shared-certificate"])
def test_sasl_list_seen_by_a_tls_client(pg, pki, tls_cluster, proxy_factory, shared, expected):
    proxy = proxy_factory(*client_tls_flags(pki, shared=shared), "--upstream-tls", "require",
                          upstream=tls_cluster.address)
    with direct_tls(proxy, tls_context(pki.ca)) as raw:
        raw.send(pgwire.startup_packet(TLS_SCRAM_USER, "postgres"))
        tag, payload = raw.read_message()
    assert tag == b"R" and struct.unpack("!I", payload[:4])[0] == 10
    assert payload[4:].rstrip(b"\0").split(b"\0") == expected


# --- config file --------------------------------------------------------------------------------

def test_tls_from_the_config_file_and_flags_win(pg, pki, tls_cluster, proxy_factory, tmp_path):
    shutil.copyfile(pki.cert, tmp_path / "server.pem")
    shutil.copyfile(pki.key, tmp_path / "server.key")
    config = tmp_path / "staleguard.yaml"
    # Relative file names are taken from the config file's directory.
    config.write_text(f"tls:\n  cert: server.pem\n  key: server.key\n  mode: require\n"
                      f"upstream_tls:\n  mode: verify-full\n  ca: {pki.ca}\n")
    proxy = proxy_factory("--config", str(config), upstream=tls_cluster.address)
    with pytest.raises(psycopg2.OperationalError) as failed:
        connect(proxy, user="postgres", password="", dbname="postgres", sslmode="disable")
    assert "TLS is required" in str(failed.value)
    conn = connect(proxy, user="postgres", password="", dbname="postgres", host="localhost",
                         sslmode="verify-full", sslrootcert=str(pki.ca))
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)
    conn.close()
    # --tls-mode on the command line wins over tls.mode in the file.
    relaxed = proxy_factory("--config", str(config), "--tls-mode", "allow", upstream=tls_cluster.address)
    conn = connect(relaxed, user="postgres", password="", dbname="postgres", sslmode="disable")
    assert not conn.info.ssl_in_use
    conn.close()
