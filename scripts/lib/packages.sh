# Debian packages that building, testing and demonstrating staleguard need: the one list, sourced by
# shellcheck shell=bash
# scripts/test.sh and scripts/demo.sh.

STALEGUARD_PACKAGES=(
    # build
    build-essential cmake pkg-config
    libboost-dev libboost-system-dev libpg-query-dev libprotobuf-c-dev
    libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev libssl-dev libpq-dev
    # unit tests, benchmarks, sanitizers and fuzzing
    libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
    # a real PostgreSQL and real clients for the integration tests
    postgresql-15 postgresql-client-15 postgresql-contrib pgbouncer
    python3-psycopg2 python3-psycopg python3-asyncpg python3-django python3-sqlalchemy python3-pytest
    libpostgresql-jdbc-java default-jdk-headless
    # runuser, pgrep and friends
    procps util-linux
    # test certificates for the TLS tests
    openssl
)

# Installs whatever of STALEGUARD_PACKAGES is missing; a machine that has them all is not touched,
# so re-runs cost one dpkg-query. npm comes from Debian only when the machine has no npm of its own
# (a Node.js installed outside Debian conflicts with Debian's npm package).
staleguard_install_packages() {
    local wanted=("${STALEGUARD_PACKAGES[@]}")
    if ! command -v npm >/dev/null 2>&1; then
        wanted+=(nodejs npm)
    fi
    local missing=()
    local pkg status
    for pkg in "${wanted[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        echo "packages: all ${#wanted[@]} already installed"
        return 0
    fi
    echo "packages: installing ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "packages: missing ${missing[*]} and not root (no sudo either)" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    local apt_log
    apt_log=$(mktemp)
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1; then
        tail -n 40 "$apt_log" >&2
        rm -f "$apt_log"
        echo "packages: apt-get failed" >&2
        return 1
    fi
    rm -f "$apt_log"
    echo "packages: installed ${#missing[@]}"
}
