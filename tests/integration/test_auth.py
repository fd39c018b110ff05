"""Authentication and startup through staleguard: every method PostgreSQL offers here (trust, md5,
SCRAM-SHA-256) works, failures carry the server's own SQLSTATE, and startup parameters and keys
reach the client unchanged."""

import psycopg2
import pytest

import pgwire


def test_each_method_with_psycopg2(pg, proxy):
    for user in (pg.trust_user, pg.md5_user, pg.scram_user, pg.admin_user):
        conn = proxy.connect(user=user)
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, 6 * 7")
            assert cur.fetchone() == (user, 42)
        conn.close()


@pytest.mark.parametrize("kind", ["trust", "md5", "scram"])
def test_each_method_on_the_wire(pg, proxy, kind):
    user = {"trust": pg.trust_user, "md5": pg.md5_user, "scram": pg.scram_user}[kind]
    expected_requests = {"trust": [0], "md5": [5, 0], "scram": [10, 11, 12, 0]}[kind]
    with pgwire.RawConnection(*proxy.address) as raw:
        # ScramClient checks the server's signature: the proxy relays SCRAM untouched.
        messages = raw.startup(user, pg.db, pg.password_of(user))
        assert pgwire.errors_in(messages) == []
        requests = [int.from_bytes(p[:4], "big") for t, p in messages if t == b"R"]
        assert requests == expected_requests
        assert raw.backend_key is not None
        assert raw.parameters.get("server_version", "").startswith("15")
        assert raw.parameters.get("client_encoding") == "UTF8"
        rows = pgwire.data_rows(raw.simple_query("SELECT current_user, pg_backend_pid()"))
        assert rows[0][0] == user
        # The client sees PostgreSQL's real backend PID in BackendKeyData.
        assert int(rows[0][1]) == raw.backend_key[0]
        raw.send(pgwire.TERMINATE)
        assert raw.read_until_closed(5) == []


@pytest.mark.parametrize("kind", ["md5", "scram", "admin"])
def test_wrong_password_gets_28P01(pg, proxy, kind):
    user = {"md5": pg.md5_user, "scram": pg.scram_user, "admin": pg.admin_user}[kind]
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(user, pg.db, "not-the-password")
        errors = pgwire.errors_in(messages)
        assert len(errors) == 1, messages
        assert errors[0]["C"] == "28P01"
        assert errors[0]["S"] == "FATAL"
        assert "password authentication failed" in errors[0]["M"]
        assert raw.read_until_closed(5) == []
    with pytest.raises(psycopg2.OperationalError) as failed:
        proxy.connect(user=user, password="not-the-password")
    assert "password authentication failed" in str(failed.value)
    # The proxy is fine afterwards.
    proxy.connect(user=user).close()


def test_missing_database_gets_3D000(pg, proxy):
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.trust_user, "no_such_database")
        assert [e["C"] for e in pgwire.errors_in(messages)] == ["3D000"]
        assert raw.read_until_closed(5) == []


def test_missing_user_is_refused(pg, proxy):
    with pgwire.RawConnection(*proxy.address) as raw:
        body = b"\x00\x03\x00\x00" + b"database\x00" + pg.db.encode() + b"\x00\x00"
        raw.send(len(body + b"1234").to_bytes(4, "big") + body)
        messages = raw.read_until_closed(5)
        errors = pgwire.errors_in(messages)
        assert len(errors) == 1, messages
        # PostgreSQL says 28000; a proxy that checks first may say 08P01.
        assert errors[0]["C"] in ("28000", "08P01")


def test_startup_parameters_reach_the_server(pg, proxy):
    conn = proxy.connect(user=pg.trust_user, application_name="sg-params",
                         options="-c search_path=pg_catalog -c statement_timeout=12345")
    with conn.cursor() as cur:
        cur.execute("SHOW application_name")
        assert cur.fetchone()[0] == "sg-params"
        cur.execute("SHOW search_path")
        assert cur.fetchone()[0] == "pg_catalog"
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "12345ms"
    conn.close()
    with pgwire.RawConnection(*proxy.address) as raw:
        messages = raw.startup(pg.trust_user, pg.db, application_name="raw-params",
                               DateStyle="German, DMY")
        assert messages[-1][0] == b"Z"
        assert raw.parameters["application_name"] == "raw-params"
        assert raw.parameters["DateStyle"] == "German, DMY"


def test_ssl_and_gssenc_requests_are_declined(pg, proxy):
    for request in (pgwire.ssl_request(), pgwire.gssenc_request()):
        with pgwire.RawConnection(*proxy.address) as raw:
            raw.send(request)
            assert raw.read_byte(5) == b"N"
            # The same connection then goes on in plaintext.
            messages = raw.startup(pg.scram_user, pg.db, pg.scram_password)
            assert messages[-1] == (b"Z", b"I")
    # libpq's default (sslmode=prefer) sends SSLRequest first and falls back.
    conn = proxy.connect(user=pg.trust_user, sslmode="prefer")
    conn.close()
    with pytest.raises(psycopg2.OperationalError) as failed:
        proxy.connect(user=pg.trust_user, sslmode="require")
    assert "SSL" in str(failed.value)
