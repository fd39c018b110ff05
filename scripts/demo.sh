#!/usr/bin/env bash
# Try staleguard by hand: installs packages, builds, starts a throwaway PostgreSQL with a demo
# table, and runs staleguard in the foreground in front of it. Ctrl-C stops everything.
#
# Usage: scripts/demo.sh [--no-install] [extra staleguard flags, e.g. --log-level debug]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=lib/build.sh
source "$ROOT/scripts/lib/build.sh"

run_install=1
proxy_flags=()
for arg in "$@"; do
    case "$arg" in
    --no-install) run_install=0 ;;
    -h | --help)
        sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) proxy_flags+=("$arg") ;;
    esac
done

export LC_ALL=C.UTF-8
proxy_pid=
cleanup() {
    if [[ -n "$proxy_pid" ]] && kill -0 "$proxy_pid" 2>/dev/null; then
        kill -TERM "$proxy_pid" 2>/dev/null
        wait "$proxy_pid" 2>/dev/null
    fi
    trap - INT TERM
    staleguard_pg_stop
}
trap cleanup EXIT
# A background job of a script ignores SIGINT, so Ctrl-C (or a TERM to this script) is passed on
# to staleguard as SIGTERM: it stops accepting, lets sessions finish and exits; then cleanup runs.
stop_proxy() {
    if [[ -n "$proxy_pid" ]]; then
        kill -TERM "$proxy_pid" 2>/dev/null
    else
        exit 130
    fi
}
trap stop_proxy INT TERM

die() {
    echo "demo: $*" >&2
    exit 1
}

if ((run_install)); then
    staleguard_install_packages || die "package installation failed"
fi
staleguard_configure "$ROOT" "$ROOT/build" gcc g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
    die "cmake configure failed"
staleguard_build "$ROOT/build" --target staleguard || die "build failed"

staleguard_pg_start demo "host all demo 127.0.0.1/32 trust" || die "PostgreSQL did not start"
staleguard_pg_psql demo postgres -c "CREATE DATABASE demo OWNER demo" || die "createdb failed"
staleguard_pg_psql demo demo <<'EOF' || die "demo table failed"
CREATE TABLE accounts (
    id int PRIMARY KEY,
    owner text NOT NULL,
    balance int NOT NULL,
    version bigint NOT NULL DEFAULT 1
);
INSERT INTO accounts (id, owner, balance) VALUES
    (1, 'alice', 100),
    (2, 'bob', 250),
    (3, 'carol', 75);
EOF

listen_port=$(staleguard_free_port)
cat <<EOF

PostgreSQL 15 is on 127.0.0.1:$SG_PG_PORT (database demo, table accounts, user demo, no password).
staleguard is starting on 127.0.0.1:$listen_port with rules from examples/rules.yaml.

Connect through staleguard from another terminal:

    psql "host=127.0.0.1 port=$listen_port dbname=demo user=demo"

Press Ctrl-C here to stop staleguard and PostgreSQL.

EOF

"$ROOT/build/staleguard" --listen "127.0.0.1:$listen_port" --upstream "127.0.0.1:$SG_PG_PORT" \
    --rules "$ROOT/examples/rules.yaml" "${proxy_flags[@]}" &
proxy_pid=$!
# `wait` also returns when a trapped signal arrives (status 128+n): wait until staleguard has
# really exited, then ask once more for its own exit status.
while kill -0 "$proxy_pid" 2>/dev/null; do
    wait "$proxy_pid"
done
wait "$proxy_pid"
status=$?
proxy_pid=
echo "staleguard exited with status $status"
exit "$status"
