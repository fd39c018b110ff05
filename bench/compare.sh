#!/usr/bin/env bash
# Side-by-side throughput and idle-session memory: PostgreSQL direct, pgbouncer, staleguard.
#
# Usage: bench/compare.sh [--quick] [--rounds N] [--seconds S] [--threads N] [--staleguard PATH]
#                         [--upstream-socket] [--client-socket] [--pin] [--force-rules] [--keep]
# Runs everything it measures itself (throwaway PostgreSQL 15, pgbouncer, staleguard) on loopback
# ports and removes it all on exit. The report goes to stdout, progress to stderr. See bench/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMMAND_LINE=$(printf '%q ' "$0" "$@")
# shellcheck source=lib/servers.sh
source "$BENCH_DIR/lib/servers.sh"

ROUNDS=3
RUN_SECONDS=15
SCALE=10
CLIENTS=8
JOBS=2
IDLE_SESSIONS=1000
KEEP_WORK=0
FORCE_RULES=0
BENCH_SG_THREADS=
BENCH_UPSTREAM_SOCKET=0
BENCH_CLIENT_SOCKET=0
BENCH_PIN=0
BENCH_STALEGUARD=$(dirname "$BENCH_DIR")/build/staleguard

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
    --quick) ROUNDS=1 RUN_SECONDS=5 ;;
    --rounds) ROUNDS=$2 && shift ;;
    --seconds) RUN_SECONDS=$2 && shift ;;
    --threads) BENCH_SG_THREADS=$2 && shift ;;
    --staleguard) BENCH_STALEGUARD=$2 && shift ;;
    --keep) KEEP_WORK=1 ;;
    --upstream-socket) BENCH_UPSTREAM_SOCKET=1 ;;
    --client-socket) BENCH_CLIENT_SOCKET=1 ;;
    --pin) BENCH_PIN=1 ;;
    --force-rules) FORCE_RULES=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && exit 2 ;;
    esac
    shift
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$RUN_SECONDS" =~ ^[1-9][0-9]*$ ]] || {
    echo "compare.sh: --rounds and --seconds take positive integers" >&2
    exit 2
}

# --- prerequisites ---------------------------------------------------------------------------------
ensure_packages() {
    local missing=()
    [[ -x "$BENCH_PG_BIN/pgbench" && -x "$BENCH_PG_BIN/initdb" ]] || missing+=(postgresql-15 postgresql-client-15)
    [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
    command -v setpriv >/dev/null 2>&1 && command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
    command -v ps >/dev/null 2>&1 || missing+=(procps)
    "$(bench_python)" -c 'import psycopg2' 2>/dev/null || missing+=(python3-psycopg2)
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        bench_say "missing packages: ${missing[*]} (run as root to have them installed)"
        return 1
    fi
    bench_say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
ensure_packages
if [[ ! -x "$BENCH_STALEGUARD" ]]; then
    bench_say "no staleguard binary at $BENCH_STALEGUARD (build it: cmake --build build --target staleguard)"
    exit 1
fi
BENCH_STALEGUARD=$(readlink -f "$BENCH_STALEGUARD")
if ((BENCH_PIN)) && (($(nproc) < 2)); then
    bench_say "--pin needs two CPUs (one for PostgreSQL and pgbench, one for the proxies)"
    exit 1
fi
PGBENCH_PREFIX=()
((!BENCH_PIN)) || PGBENCH_PREFIX=(taskset -c "$BENCH_DB_CPU")
bench_choose_os_user
# 1000 idle sessions need 1000 sockets in the client and 2000 in each proxy.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited ]] && (($(ulimit -n) < IDLE_SESSIONS * 2 + 200)); then
    bench_say "open-file limit $(ulimit -n) is below $((IDLE_SESSIONS * 2 + 200)); raise it (ulimit -n)"
    exit 1
fi

BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/staleguard-bench.XXXXXX")
chmod 755 "$BENCH_WORK"
MEMORY_PROBE_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -z "$MEMORY_PROBE_PID" ]] || kill "$MEMORY_PROBE_PID" 2>/dev/null || true
    bench_stop_all
    if ((KEEP_WORK)); then
        bench_say "kept logs and data in $BENCH_WORK"
    else
        rm -rf "$BENCH_WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd /

CLOCK_TICKS=$(getconf CLK_TCK)
NOTES=$BENCH_WORK/notes.txt
: >"$NOTES"
: >"$BENCH_WORK/results.tsv"
: >"$BENCH_WORK/skips.tsv"

# --- header ----------------------------------------------------------------------------------------
PIN_NOTE=
((!BENCH_PIN)) || PIN_NOTE="pinned:     PostgreSQL and pgbench on CPU $BENCH_DB_CPU, pgbouncer and staleguard on CPU $BENCH_PROXY_CPU (--pin)
"
cat <<EOF
# staleguard bench: direct vs pgbouncer vs staleguard
command:    $COMMAND_LINE
date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')
nproc:      $(nproc)   load average at start: $(cut -d' ' -f1-3 /proc/loadavg)
staleguard: $BENCH_STALEGUARD ($("$BENCH_STALEGUARD" --version 2>&1 | head -n1)), threads: ${BENCH_SG_THREADS:-default (one per core)}
PostgreSQL: $("$BENCH_PG_BIN/postgres" --version)   pgbouncer: $(/usr/sbin/pgbouncer --version | head -n1)
workloads:  pgbench -c $CLIENTS -j $JOBS, scale $SCALE, $ROUNDS round(s) of $RUN_SECONDS s, targets interleaved within each round;
            TPS excludes connection time; each cell is the median over rounds
server:     fsync=off, synchronous_commit=off, full_page_writes=off, shared_buffers=256MB,
            max_connections=1100: no durability, which is fine for comparing proxies (their cost per
            transaction is what differs) but makes absolute TPS higher than on a durable server
pgbouncer:  session pooling, pool as large as the client limit (one server connection per client, like staleguard)
${PIN_NOTE}NOTE:       this machine is shared and noisy (2 cores shared with other work); only ratios within
            one run mean anything, and small differences (a few %) are within the noise
EOF
echo

# --- servers ---------------------------------------------------------------------------------------
bench_say "starting PostgreSQL 15"
bench_pg_start
bench_say "PostgreSQL on 127.0.0.1:$BENCH_PG_PORT; pgbench -i -s $SCALE"
"$BENCH_PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$BENCH_PG_PORT" -U "$BENCH_DB" "$BENCH_DB" \
    >"$BENCH_WORK/pgbench-init.log" 2>&1 || {
    cat "$BENCH_WORK/pgbench-init.log" >&2
    exit 1
}
bench_pgbouncer_start
bench_say "pgbouncer on 127.0.0.1:$BENCH_PGBOUNCER_PORT (pid $BENCH_PGBOUNCER_PID)"
if ! bench_staleguard_start plain; then
    bench_say "staleguard did not start:"
    tail -n 20 "$BENCH_WORK/staleguard-plain.log" >&2
    exit 1
fi
bench_say "staleguard on 127.0.0.1:${BENCH_SG_PORT[plain]} (pid ${BENCH_SG_PID[plain]})"

# --- measuring -------------------------------------------------------------------------------------
# A staleguard that died is restarted (and the death noted) so one crash does not void the run.
ensure_staleguard() {
    local name=$1 rules=${2:-}
    if [[ -n "${BENCH_SG_PID[$name]:-}" ]] && bench_pid_running "${BENCH_SG_PID[$name]}"; then
        return 0
    fi
    bench_staleguard_stop "$name"
    echo "staleguard ($name) died (exit status ${BENCH_SG_RC[$name]:-?}) and was restarted; log tail:" >>"$NOTES"
    tail -n 5 "$BENCH_WORK/staleguard-$name.log" | sed 's/^/    /' >>"$NOTES"
    bench_staleguard_start "$name" "$rules"
}

# use_target TARGET: sets TARGET_PORT (and TARGET_PID, the proxy process; empty for direct) for
# "direct", "pgbouncer", "staleguard" or "staleguard+MODE".
use_target() {
    TARGET_PID=
    case $1 in
    direct) TARGET_PORT=$BENCH_PG_PORT ;;
    pgbouncer) TARGET_PORT=$BENCH_PGBOUNCER_PORT TARGET_PID=$BENCH_PGBOUNCER_PID ;;
    staleguard)
        ensure_staleguard plain && TARGET_PORT=${BENCH_SG_PORT[plain]} TARGET_PID=${BENCH_SG_PID[plain]}
        ;;
    staleguard+*)
        local mode=${1#staleguard+}
        ensure_staleguard "$mode" "$BENCH_DIR/rules/$mode.yaml" &&
            TARGET_PORT=${BENCH_SG_PORT[$mode]} TARGET_PID=${BENCH_SG_PID[$mode]}
        ;;
    esac
}

# CPU time (user + system, all threads) PID has used so far, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU time PostgreSQL has used so far, in clock ticks: the postmaster's children still running
# plus those it has reaped (a backend's time moves from the first to the second when it exits).
server_cpu_ticks() {
    local postmaster child total
    postmaster=$(head -n 1 "$BENCH_WORK/pg/data/postmaster.pid" 2>/dev/null) || return 0
    total=$(awk '{print $16 + $17}' "/proc/$postmaster/stat" 2>/dev/null || echo 0)
    for child in $(pgrep -P "$postmaster"); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}

# run_pgbench SECTION WORKLOAD TARGET ROUND PGBENCH_ARGS...: one timed run, appended to results.tsv.
run_pgbench() {
    local section=$1 workload=$2 target=$3 round=$4
    shift 4
    local out="$BENCH_WORK/pgbench-$section-r$round-$target-${workload//[^a-zA-Z0-9]/_}.out"
    local tps=fail retried failed ticks_before=0 transactions cpu_per_tx='' server_before server_per_tx=''
    if use_target "$target"; then
        [[ -z "$TARGET_PID" ]] || ticks_before=$(cpu_ticks "$TARGET_PID")
        server_before=$(server_cpu_ticks)
        if "${PGBENCH_PREFIX[@]}" "$BENCH_PG_BIN/pgbench" -h "$(bench_client_host "$target")" -p "$TARGET_PORT" -U "$BENCH_DB" -T "$RUN_SECONDS" \
            -c "$CLIENTS" -j "$JOBS" "$@" "$BENCH_DB" >"$out" 2>&1; then
            tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
            [[ -n "$tps" ]] || tps=fail
        fi
        transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
        if [[ -n "$TARGET_PID" && "$tps" != fail && "${transactions:-0}" -gt 0 ]]; then
            cpu_per_tx=$(awk -v ticks=$(($(cpu_ticks "$TARGET_PID") - ticks_before)) \
                -v hz="$CLOCK_TICKS" -v n="$transactions" 'BEGIN { printf "%.2f", ticks / hz * 1e6 / n }')
        fi
        if [[ "$tps" != fail && "${transactions:-0}" -gt 0 ]]; then
            # The clients' backends exit (and are reaped) just after pgbench does.
            sleep 0.5
            server_per_tx=$(awk -v ticks=$(($(server_cpu_ticks) - server_before)) \
                -v hz="$CLOCK_TICKS" -v n="$transactions" 'BEGIN { printf "%.2f", ticks / hz * 1e6 / n }')
        fi
    fi
    retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$out" 2>/dev/null)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out" 2>/dev/null)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$workload" "$target" "$round" "$tps" \
        "${retried:-0}" "${failed:-0}" "$cpu_per_tx" "$server_per_tx" >>"$BENCH_WORK/results.tsv"
    bench_say "round $round/$ROUNDS  $workload  via $target: $tps TPS${cpu_per_tx:+, proxy CPU $cpu_per_tx us/transaction}${server_per_tx:+, PostgreSQL CPU $server_per_tx us/transaction}"
    if [[ "$tps" == fail ]]; then
        echo "round $round, $workload via $target failed; pgbench said:" >>"$NOTES"
        tail -n 6 "$out" 2>/dev/null | sed 's/^/    /' >>"$NOTES"
    fi
}

PROXY_WORKLOADS=("select-only -M simple" "select-only -M extended" "tpcb-like -M simple")
PROXY_ARGS=("-S -M simple" "-S -M extended" "-M simple")
for ((round = 1; round <= ROUNDS; round++)); do
    for i in "${!PROXY_WORKLOADS[@]}"; do
        for target in direct pgbouncer staleguard; do
            # shellcheck disable=SC2086 # the arguments are meant to split
            run_pgbench proxies "${PROXY_WORKLOADS[$i]}" "$target" "$round" ${PROXY_ARGS[$i]}
        done
    done
done

# Client backends still open on the server (the previous proxy's upstream connections closing).
wait_for_idle_server() {
    local i count
    for ((i = 0; i < 600; i++)); do
        count=$(bench_psql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        ((count <= 20)) && return 0
        sleep 0.1
    done
    bench_say "server still has $count client backends"
}

: >"$BENCH_WORK/memory.tsv"
measure_idle_memory() {
    local label=$1 pid=$2 port=$3
    wait_for_idle_server
    bench_say "holding $IDLE_SESSIONS idle connections through $label (pid $pid, $(cat "/proc/$pid/comm"))"
    "$(bench_python)" "$BENCH_DIR/lib/idle_sessions.py" --label "$label" --pid "$pid" --port "$port" \
        --user "$BENCH_DB" --dbname "$BENCH_DB" --count "$IDLE_SESSIONS" >>"$BENCH_WORK/memory.tsv" \
        2>"$BENCH_WORK/idle-$label.err" &
    MEMORY_PROBE_PID=$!
    if ! wait "$MEMORY_PROBE_PID"; then
        echo "memory through $label failed:" >>"$NOTES"
        sed 's/^/    /' "$BENCH_WORK/idle-$label.err" >>"$NOTES"
    fi
    MEMORY_PROBE_PID=
}
ensure_staleguard plain
measure_idle_memory staleguard "${BENCH_SG_PID[plain]}" "${BENCH_SG_PORT[plain]}"
measure_idle_memory pgbouncer "$BENCH_PGBOUNCER_PID" "$BENCH_PGBOUNCER_PORT"
# pgbouncer keeps its server connections for server_idle_timeout; stop it so they do not linger.
bench_pgbouncer_stop
wait_for_idle_server

# --- rules (later issues) --------------------------------------------------------------------------
bench_psql -c "ALTER TABLE pgbench_accounts ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1"

# rules_enforced MODE: does an UPDATE through staleguard+MODE bump pgbench_accounts.version?
# A build that accepts --rules but ignores them would otherwise be measured as if it checked.
rules_enforced() {
    local mode=$1 before after statements=()
    before=$(bench_psql -c "SELECT version FROM pgbench_accounts WHERE aid = 1")
    [[ "$mode" != track* ]] || statements+=(-c "SELECT abalance FROM pgbench_accounts WHERE aid = 1")
    statements+=(-c "UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 1")
    if ! BENCH_PSQL_PORT=${BENCH_SG_PORT[$mode]} bench_psql "${statements[@]}" \
        >"$BENCH_WORK/rules-check-$mode.log" 2>&1; then
        RULES_SKIP="skipped: a read-then-update of one row failed through staleguard with $mode rules: $(head -n1 "$BENCH_WORK/rules-check-$mode.log")"
        return 1
    fi
    after=$(bench_psql -c "SELECT version FROM pgbench_accounts WHERE aid = 1")
    if ((after <= before)); then
        RULES_SKIP="skipped: this build accepts --rules but does not apply them (an UPDATE through it left version at $after)"
        return 1
    fi
}

RULE_MODES=()
# track runs twice: with literal values (-M simple: every statement text is new to the proxy) and
# with prepared statements (-M prepared: analysed once, checked per Bind).
declare -A RULE_WORKLOAD=([increment]="tpcb-like, accounts increment" [track]="select_update.sql -M simple, accounts track"
    [track-prepared]="select_update.sql -M prepared, accounts track")
declare -A RULE_ARGS=([increment]="-M simple --max-tries=10"
    [track]="-M simple --max-tries=10 -s $SCALE -f $BENCH_DIR/select_update.sql"
    [track-prepared]="-M prepared --max-tries=10 -s $SCALE -f $BENCH_DIR/select_update.sql")
declare -A RULE_FILE=([increment]=increment.yaml [track]=track.yaml [track-prepared]=track.yaml)
for mode in increment track track-prepared; do
    if ! bench_staleguard_start "$mode" "$BENCH_DIR/rules/${RULE_FILE[$mode]}"; then
        printf 'rules\t%s\t%s\n' "${RULE_WORKLOAD[$mode]}" "skipped: rules not supported by this build" \
            >>"$BENCH_WORK/skips.tsv"
        echo "staleguard --rules bench/rules/$mode.yaml did not start; its log:" >>"$NOTES"
        tail -n 5 "$BENCH_WORK/staleguard-$mode.log" | sed 's/^/    /' >>"$NOTES"
        continue
    fi
    RULES_SKIP=
    if ! rules_enforced "$mode" && ((FORCE_RULES)); then
        echo "--force-rules: measuring $mode rules although the check said: ${RULES_SKIP#skipped: }" >>"$NOTES"
    elif [[ -n "$RULES_SKIP" ]]; then
        printf 'rules\t%s\t%s\n' "${RULE_WORKLOAD[$mode]}" "$RULES_SKIP" >>"$BENCH_WORK/skips.tsv"
        bench_staleguard_stop "$mode"
        continue
    fi
    RULE_MODES+=("$mode")
done
# Memory per session holding 100000 tracked rows (the ReadSet's default cap).
if [[ " ${RULE_MODES[*]} " == *" track "* ]]; then
    wait_for_idle_server
    bench_say "reading 100000 rows in one session through staleguard+track"
    if ! "$(bench_python)" "$BENCH_DIR/lib/tracked_rows.py" --pid "${BENCH_SG_PID[track]}" \
        --port "${BENCH_SG_PORT[track]}" --user "$BENCH_DB" --dbname "$BENCH_DB" --rows 100000 \
        >"$BENCH_WORK/tracked.tsv" 2>"$BENCH_WORK/tracked.err"; then
        echo "tracked-rows memory failed:" >>"$NOTES"
        sed 's/^/    /' "$BENCH_WORK/tracked.err" >>"$NOTES"
    fi
fi
if ((${#RULE_MODES[@]})); then
    # pgbouncer again, fresh (its 1000 idle server connections are gone): what any proxy costs on
    # these workloads, with nothing checked.
    bench_pgbouncer_start
    for ((round = 1; round <= ROUNDS; round++)); do
        for mode in "${RULE_MODES[@]}"; do
            for target in direct pgbouncer staleguard "staleguard+$mode"; do
                # shellcheck disable=SC2086 # the arguments are meant to split
                run_pgbench rules "${RULE_WORKLOAD[$mode]}" "$target" "$round" ${RULE_ARGS[$mode]}
            done
        done
    done
fi

# --- report ----------------------------------------------------------------------------------------
for name in "${!BENCH_SG_PID[@]}"; do
    bench_staleguard_stop "$name"
    [[ "${BENCH_SG_RC[$name]}" == 0 ]] ||
        echo "staleguard ($name) exited with status ${BENCH_SG_RC[$name]} on SIGTERM (expected 0)" >>"$NOTES"
done
if ((BENCH_CLIENT_SOCKET)); then
    echo -n "pgbench reaches every target over its Unix-domain socket; "
else
    echo -n "pgbench reaches every target over loopback TCP (--client-socket: over Unix-domain sockets); "
fi
if ((BENCH_UPSTREAM_SOCKET)); then
    echo "pgbouncer and staleguard reach PostgreSQL over its Unix-domain socket."
else
    echo "pgbouncer and staleguard reach PostgreSQL over loopback TCP (--upstream-socket: over its Unix-domain socket)."
fi
echo
"$(bench_python)" "$BENCH_DIR/lib/report.py" "$BENCH_WORK" "median of $ROUNDS x $RUN_SECONDS s"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -s "$NOTES" ]]; then
    echo "notes:"
    sed 's/^/  /' "$NOTES"
fi
