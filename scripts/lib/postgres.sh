# A throwaway PostgreSQL 15 for tests and the demo: its own temp dir, a free loopback port, run as an
# shellcheck shell=bash
# unprivileged user, gone again when staleguard_pg_stop runs. Sourced by test.sh and demo.sh.

STALEGUARD_PG_BIN=${STALEGUARD_PG_BIN:-/usr/lib/postgresql/15/bin}

# Debian's python (the one that has psycopg2), whatever else PATH puts first.
staleguard_python() {
    if [[ -x /usr/bin/python3 ]]; then
        echo /usr/bin/python3
    else
        command -v python3
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
staleguard_free_port() {
    "$(staleguard_python)" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# PostgreSQL refuses to run as root: as root, run it as `postgres` (Debian's package creates it)
# or as a system user of our own; otherwise as whoever we are.
staleguard_pg_os_user() {
    if ((EUID != 0)); then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        if ! id staleguard-test >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                staleguard-test
        fi
        echo staleguard-test
    fi
}

# Runs a command as the PostgreSQL OS user.
staleguard_as_pg_user() {
    if ((EUID == 0)); then
        runuser -u "$SG_PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# staleguard_pg_start SUPERUSER HBA_LINES
# Creates and starts a cluster; HBA_LINES are its host rules (a `local all all trust` line is
# always added for setup through the socket). Sets SG_PG_DIR (temp dir, also the socket
# directory), SG_PG_PORT and SG_PG_OS_USER. Only 127.0.0.1 is listened on.
staleguard_pg_start() {
    local superuser=$1 hba_lines=$2
    SG_PG_OS_USER=$(staleguard_pg_os_user)
    SG_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/staleguard-pg.XXXXXX")
    chmod 700 "$SG_PG_DIR"
    if ((EUID == 0)); then
        chown "$SG_PG_OS_USER" "$SG_PG_DIR"
    fi
    local data=$SG_PG_DIR/data
    if ! staleguard_as_pg_user "$STALEGUARD_PG_BIN/initdb" -D "$data" -U "$superuser" \
        --auth-local=trust --auth-host=reject --encoding=UTF8 --no-locale \
        >"$SG_PG_DIR/initdb.log" 2>&1; then
        cat "$SG_PG_DIR/initdb.log" >&2
        echo "postgres: initdb failed" >&2
        return 1
    fi
    # Each attempt takes a port the kernel just called free; another process may grab it first.
    local attempt
    for attempt in 1 2 3 4 5; do
        SG_PG_PORT=$(staleguard_free_port)
        staleguard_as_pg_user tee -a "$data/postgresql.conf" >/dev/null <<EOF

# throwaway test cluster (scripts/lib/postgres.sh)
listen_addresses = '127.0.0.1'
port = $SG_PG_PORT
unix_socket_directories = '$SG_PG_DIR'
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
        staleguard_as_pg_user tee "$data/pg_hba.conf" >/dev/null <<EOF
local all all trust
$hba_lines
EOF
        if staleguard_as_pg_user "$STALEGUARD_PG_BIN/pg_ctl" -D "$data" -l "$SG_PG_DIR/postgres.log" \
            -w -t 60 start >/dev/null 2>&1; then
            echo "postgres: PostgreSQL 15 on 127.0.0.1:$SG_PG_PORT (data in $SG_PG_DIR)"
            return 0
        fi
        echo "postgres: start on port $SG_PG_PORT failed (attempt $attempt), log:" >&2
        tail -n 5 "$SG_PG_DIR/postgres.log" >&2 || true
    done
    echo "postgres: could not start" >&2
    return 1
}

# psql as SUPERUSER through the cluster's unix socket (trusted): staleguard_pg_psql USER DB ARGS...
staleguard_pg_psql() {
    local user=$1 db=$2
    shift 2
    "$STALEGUARD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SG_PG_DIR" -p "$SG_PG_PORT" \
        -U "$user" -d "$db" "$@"
}

# Stops the cluster (fast, then immediate) and removes its dir. Safe to call twice or before start.
staleguard_pg_stop() {
    if [[ -n "${SG_PG_DIR:-}" && -d "$SG_PG_DIR" ]]; then
        local pid_file=$SG_PG_DIR/data/postmaster.pid
        if [[ -f "$pid_file" ]]; then
            # A shell that sourced this file afresh (not the one that started the cluster) has no
            # SG_PG_OS_USER: the data directory's owner is the user it runs as.
            SG_PG_OS_USER=${SG_PG_OS_USER:-$(stat -c %U "$SG_PG_DIR/data")}
            staleguard_as_pg_user "$STALEGUARD_PG_BIN/pg_ctl" -D "$SG_PG_DIR/data" -m fast -w -t 30 \
                stop >/dev/null 2>&1 ||
                staleguard_as_pg_user "$STALEGUARD_PG_BIN/pg_ctl" -D "$SG_PG_DIR/data" -m immediate \
                    -w -t 30 stop >/dev/null 2>&1 || true
            # Never leave a server running behind a removed directory: if pg_ctl could not stop
            # it, the postmaster gets SIGQUIT (immediate shutdown) and then SIGKILL.
            local postmaster
            postmaster=$(head -n 1 "$pid_file" 2>/dev/null || true)
            # Only a postgres process: the file may outlive a crash, its number another process.
            if [[ "$postmaster" =~ ^[0-9]+$ ]] && [[ "$(ps -o comm= -p "$postmaster" 2>/dev/null)" == postgres* ]]; then
                kill -QUIT "$postmaster" 2>/dev/null || true
                for _ in {1..50}; do
                    kill -0 "$postmaster" 2>/dev/null || break
                    sleep 0.1
                done
                kill -KILL "$postmaster" 2>/dev/null || true
            fi
        fi
        rm -rf "$SG_PG_DIR"
    fi
    SG_PG_DIR=
}

# The cluster the integration tests expect: one role per authentication method (trust, md5,
# scram-sha-256) plus a SCRAM superuser for setup, and database sgtest open to all of them.
# Exports STALEGUARD_TEST_* for the tests (tests/integration/conftest.py reads them).
staleguard_pg_start_test_cluster() {
    local db=sgtest admin=sg_admin admin_pw=sg-admin-secret trust=sg_trust
    local md5=sg_md5 md5_pw=sg-md5-secret scram=sg_scram scram_pw=sg-scram-secret
    local hba="host all $trust 127.0.0.1/32 trust
host all $md5 127.0.0.1/32 md5
host all $scram 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256"
    staleguard_pg_start "$admin" "$hba" || return 1
    # md5 authentication needs the password stored as md5; the others are stored as SCRAM.
    staleguard_pg_psql "$admin" postgres <<EOF || return 1
ALTER ROLE $admin PASSWORD '$admin_pw';
CREATE ROLE $trust LOGIN;
SET password_encryption = 'md5';
CREATE ROLE $md5 LOGIN PASSWORD '$md5_pw';
SET password_encryption = 'scram-sha-256';
CREATE ROLE $scram LOGIN PASSWORD '$scram_pw';
CREATE DATABASE $db OWNER $admin;
GRANT CONNECT, TEMPORARY ON DATABASE $db TO PUBLIC;
EOF
    # PostgreSQL 15 no longer lets everyone create in public.
    staleguard_pg_psql "$admin" "$db" -c "GRANT ALL ON SCHEMA public TO PUBLIC" || return 1
    export STALEGUARD_TEST_PGHOST=127.0.0.1
    export STALEGUARD_TEST_PGPORT=$SG_PG_PORT
    # The server's Unix-domain socket is there too (local connections: trust).
    export STALEGUARD_TEST_PGSOCKETDIR=$SG_PG_DIR
    export STALEGUARD_TEST_DB=$db
    export STALEGUARD_TEST_ADMIN_USER=$admin STALEGUARD_TEST_ADMIN_PASSWORD=$admin_pw
    export STALEGUARD_TEST_TRUST_USER=$trust
    export STALEGUARD_TEST_MD5_USER=$md5 STALEGUARD_TEST_MD5_PASSWORD=$md5_pw
    export STALEGUARD_TEST_SCRAM_USER=$scram STALEGUARD_TEST_SCRAM_PASSWORD=$scram_pw
    # For tests that start (and stop) a second cluster of their own.
    export STALEGUARD_TEST_PGBIN=$STALEGUARD_PG_BIN
    export STALEGUARD_TEST_PG_OS_USER=$SG_PG_OS_USER
}
