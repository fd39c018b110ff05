# Starts and stops what bench/compare.sh measures: a throwaway PostgreSQL 15, pgbouncer, staleguard.
# shellcheck shell=bash disable=SC2034 # the BENCH_* globals are compare.sh's to read
# Everything lives under BENCH_WORK (a temp dir compare.sh creates); bench_stop_all undoes it all.

BENCH_PG_BIN=${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}
BENCH_DB=bench # database and superuser name
BENCH_PG_PORT=
BENCH_PGBOUNCER_PORT=
BENCH_PGBOUNCER_PID=
declare -A BENCH_SG_PORT=() BENCH_SG_PID=() BENCH_SG_RC=()
BENCH_AS_USER=() # command prefix that runs the rest as the unprivileged OS user

bench_say() { printf 'bench: %s\n' "$*" >&2; }

# With --pin (BENCH_PIN=1): PostgreSQL and pgbench share CPU 0 and the proxies get CPU 1, so a
# proxy never takes the database's CPU: what it costs then is its latency and the server-side work
# it adds, as on a deployment where it runs on a host (or cores) of its own.
BENCH_DB_CPU=0
BENCH_PROXY_CPU=1
# bench_pin PID CPU: PID, all its threads and its children run on CPU only (with --pin).
bench_pin() {
    ((${BENCH_PIN:-0})) || return 0
    local pid=$1 cpu=$2 child
    taskset -a -c -p "$cpu" "$pid" >/dev/null
    for child in $(pgrep -P "$pid"); do
        taskset -a -c -p "$cpu" "$child" >/dev/null
    done
}

# Debian's python3 (the one with psycopg2), whatever else PATH puts first.
bench_python() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# A loopback port nothing listens on right now; the kernel picks it, so callers retry on a race.
bench_free_port() {
    "$(bench_python)" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root; pgbouncer should not. As root both run as `postgres`.
bench_choose_os_user() {
    if ((EUID != 0)); then
        BENCH_OS_USER=$(id -un)
        BENCH_AS_USER=()
    else
        BENCH_OS_USER=postgres
        id postgres >/dev/null 2>&1 || {
            bench_say "user postgres missing (install postgresql-15)"
            return 1
        }
        # setpriv execs (no fork), so `$!` of a backgrounded command is the server itself.
        BENCH_AS_USER=(setpriv --reuid="$BENCH_OS_USER" --regid="$BENCH_OS_USER" --init-groups)
    fi
}

# bench_wait_port PORT PID SECONDS: until something accepts on 127.0.0.1:PORT; fails when PID dies.
bench_wait_port() {
    local port=$1 pid=$2 seconds=$3 i
    for ((i = 0; i < seconds * 10; i++)); do
        bench_pid_running "$pid" || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# psql as the superuser over TCP to PORT (default: PostgreSQL itself).
bench_psql() {
    local port=${BENCH_PSQL_PORT:-$BENCH_PG_PORT}
    "$BENCH_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$BENCH_DB" \
        -d "$BENCH_DB" "$@"
}

bench_pg_start() {
    local dir=$BENCH_WORK/pg attempt
    mkdir -p "$dir"
    ((EUID != 0)) || chown "$BENCH_OS_USER" "$dir"
    if ! "${BENCH_AS_USER[@]}" "$BENCH_PG_BIN/initdb" -D "$dir/data" -U "$BENCH_DB" --auth-local=trust \
        --auth-host=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        return 1
    fi
    for attempt in 1 2 3 4 5; do
        BENCH_PG_PORT=$(bench_free_port)
        "${BENCH_AS_USER[@]}" tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# bench/compare.sh: a throwaway cluster for measuring a proxy, not for keeping data.
listen_addresses = '127.0.0.1'
port = $BENCH_PG_PORT
unix_socket_directories = '$dir'
max_connections = 1100
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
        "${BENCH_AS_USER[@]}" tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
        if "${BENCH_AS_USER[@]}" "$BENCH_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
            -t 120 start >/dev/null 2>&1; then
            # Backends are forked from the postmaster and keep its CPU.
            bench_pin "$(head -n 1 "$dir/data/postmaster.pid")" "$BENCH_DB_CPU"
            "$BENCH_PG_BIN/psql" -X -q -h 127.0.0.1 -p "$BENCH_PG_PORT" -U "$BENCH_DB" -d postgres \
                -c "CREATE DATABASE $BENCH_DB" || return 1
            return 0
        fi
        bench_say "PostgreSQL failed to start on port $BENCH_PG_PORT (attempt $attempt)"
        tail -n 5 "$dir/postgres.log" >&2 || true
    done
    return 1
}

bench_pg_stop() {
    local data=$BENCH_WORK/pg/data
    [[ -f "$data/postmaster.pid" ]] || return 0
    "${BENCH_AS_USER[@]}" "$BENCH_PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        "${BENCH_AS_USER[@]}" "$BENCH_PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop \
            >/dev/null 2>&1 || true
}

# Where the proxies reach PostgreSQL: loopback TCP, or with --upstream-socket the directory of its
# Unix-domain socket (libpq's and pgbouncer's way of writing it, and staleguard's DIR:PORT).
bench_upstream_host() {
    if ((${BENCH_UPSTREAM_SOCKET:-0})); then echo "$BENCH_WORK/pg"; else echo 127.0.0.1; fi
}

# Where pgbench reaches TARGET: loopback TCP, or with --client-socket the directory of its
# Unix-domain socket (PostgreSQL's own, or the one both proxies listen in).
bench_client_host() {
    if ((!${BENCH_CLIENT_SOCKET:-0})); then
        echo 127.0.0.1
    elif [[ $1 == direct ]]; then
        echo "$BENCH_WORK/pg"
    else
        echo "$BENCH_WORK/sockets"
    fi
}

# The proxies' socket directory: pgbouncer runs as the bench user and staleguard as the caller,
# so both may create their socket there (each is named by its own port).
bench_client_socket_dir() {
    mkdir -p "$BENCH_WORK/sockets"
    chmod 1777 "$BENCH_WORK/sockets"
    echo "$BENCH_WORK/sockets"
}

# Session pooling with a pool as large as the client limit: every client keeps its own server
# connection, which is what staleguard does, so the two do the same work per transaction.
bench_pgbouncer_start() {
    local dir=$BENCH_WORK/pgbouncer attempt socket_dir=
    ((!${BENCH_CLIENT_SOCKET:-0})) || socket_dir=$(bench_client_socket_dir)
    mkdir -p "$dir"
    printf '"%s" ""\n' "$BENCH_DB" >"$dir/userlist.txt"
    ((EUID != 0)) || chown -R "$BENCH_OS_USER" "$dir"
    for attempt in 1 2 3 4 5; do
        BENCH_PGBOUNCER_PORT=$(bench_free_port)
        cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$(bench_upstream_host) port=$BENCH_PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BENCH_PGBOUNCER_PORT
unix_socket_dir = $socket_dir
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 1100
default_pool_size = 1100
max_db_connections = 0
logfile = $dir/pgbouncer.log
log_connections = 0
log_disconnections = 0
ignore_startup_parameters = extra_float_digits
EOF
        "${BENCH_AS_USER[@]}" /usr/sbin/pgbouncer "$dir/pgbouncer.ini" >>"$dir/stderr.log" 2>&1 &
        BENCH_PGBOUNCER_PID=$!
        if bench_wait_port "$BENCH_PGBOUNCER_PORT" "$BENCH_PGBOUNCER_PID" 20; then
            bench_pin "$BENCH_PGBOUNCER_PID" "$BENCH_PROXY_CPU"
            return 0
        fi
        bench_say "pgbouncer failed to start on port $BENCH_PGBOUNCER_PORT (attempt $attempt)"
        tail -n 5 "$dir/pgbouncer.log" "$dir/stderr.log" >&2 2>/dev/null || true
        bench_stop_pid "$BENCH_PGBOUNCER_PID"
        BENCH_PGBOUNCER_PID=
    done
    return 1
}

# bench_stop_pid PID: SIGTERM, up to 20 s, then SIGKILL. Sets BENCH_LAST_RC to its exit status
# (meaningful only for children of this shell; not called in $(...), where `wait` cannot see them).
bench_stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        bench_pid_running "$pid" || break
        sleep 0.1
    done
    ! bench_pid_running "$pid" || kill -KILL "$pid" 2>/dev/null || true
    BENCH_LAST_RC=0
    wait "$pid" 2>/dev/null || BENCH_LAST_RC=$?
}

# A child that exited stays a zombie (kill -0 still succeeds) until it is waited for.
bench_pid_running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

bench_pgbouncer_stop() {
    [[ -n "$BENCH_PGBOUNCER_PID" ]] || return 0
    bench_stop_pid "$BENCH_PGBOUNCER_PID"
    BENCH_PGBOUNCER_PID=
}

# bench_staleguard_start NAME [RULE_FILE]: one staleguard instance, its port in BENCH_SG_PORT[NAME].
# Fails (and leaves its log in BENCH_WORK/staleguard-NAME.log) when it exits or never listens.
bench_staleguard_start() {
    local name=$1 rules=${2:-} attempt pid port
    local log=$BENCH_WORK/staleguard-$name.log
    local args=(--upstream "$(bench_upstream_host):$BENCH_PG_PORT" --log-level warn --max-connections 1100)
    [[ -z "$BENCH_SG_THREADS" ]] || args+=(--threads "$BENCH_SG_THREADS")
    [[ -z "$rules" ]] || args+=(--rules "$rules")
    ((!${BENCH_CLIENT_SOCKET:-0})) || args+=(--unix-socket-dir "$(bench_client_socket_dir)")
    for attempt in 1 2 3; do
        port=$(bench_free_port)
        "$BENCH_STALEGUARD" --listen "127.0.0.1:$port" "${args[@]}" >>"$log" 2>&1 &
        pid=$!
        if bench_wait_port "$port" "$pid" 20; then
            bench_pin "$pid" "$BENCH_PROXY_CPU"
            BENCH_SG_PORT[$name]=$port
            BENCH_SG_PID[$name]=$pid
            return 0
        fi
        bench_stop_pid "$pid"
        BENCH_SG_RC[$name]=$BENCH_LAST_RC
        # Refused rules end the process at once; a lost port race shows as a bind error in the log.
        grep -qiE 'address (already )?in use|bind' "$log" || return 1
    done
    return 1
}

bench_staleguard_stop() {
    local name=$1
    [[ -n "${BENCH_SG_PID[$name]:-}" ]] || return 0
    bench_stop_pid "${BENCH_SG_PID[$name]}"
    BENCH_SG_RC[$name]=$BENCH_LAST_RC
    unset "BENCH_SG_PID[$name]"
}

bench_stop_all() {
    local name
    for name in "${!BENCH_SG_PID[@]}"; do
        bench_staleguard_stop "$name"
    done
    bench_pgbouncer_stop
    bench_pg_stop
}
