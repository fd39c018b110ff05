#!/usr/bin/env bash
# The whole test run: packages, release build, unit + integration tests against a throwaway
# PostgreSQL, then an ASan/UBSan build (gcc) with its unit and integration tests, and a clang
# ASan/UBSan fuzz build with a bounded run of every fuzzer.
#
# Usage: scripts/test.sh [--no-sanitize] [--no-install]
#   --no-sanitize  skip the sanitizer and fuzz stages (quicker local runs)
#   --no-install   do not check or install Debian packages
# Environment: STALEGUARD_FUZZ_SECONDS (default 60) and STALEGUARD_FUZZ_RUNS (default 100000)
# bound each fuzzer.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=lib/build.sh
source "$ROOT/scripts/lib/build.sh"

run_sanitize=1
run_install=1
for arg in "$@"; do
    case "$arg" in
    --no-sanitize) run_sanitize=0 ;;
    --no-install) run_install=0 ;;
    -h | --help)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

export LC_ALL=C.UTF-8
BUILD=$ROOT/build
SANITIZE_BUILD=$ROOT/build-sanitize
FUZZ_BUILD=$ROOT/build-fuzz
FUZZ_SECONDS=${STALEGUARD_FUZZ_SECONDS:-60}
FUZZ_RUNS=${STALEGUARD_FUZZ_RUNS:-100000}

WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/staleguard-test.XXXXXX")
cleanup() {
    staleguard_pg_stop
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
skipped=()
results=()

failures=()

# stage NAME COMMAND...: runs one counted stage and records its outcome. A failed stage's telling
# lines (failed tests, compiler errors) are repeated in the summary: a CI log is often read only
# from its end.
stage() {
    local name=$1
    shift
    local started=$SECONDS
    local log=$WORK_DIR/stage-${#results[@]}.log
    echo
    echo "=== $name"
    # Not a pipe into tee: a stage runs in this shell so that what it exports (the cluster's
    # PG* variables) stays set for the later stages. The tee's descriptor is closed for the
    # stage's commands, or a server they leave running (PostgreSQL) would hold it open and the
    # tee would never end.
    local out
    exec {out}> >(tee "$log")
    local tee_pid=$!
    "$@" >&"$out" 2>&1 {out}>&-
    local status=$?
    exec {out}>&-
    wait "$tee_pid" # so that the log is whole and the output in order
    if ((status == 0)); then
        passed=$((passed + 1))
        results+=("PASS  $name ($((SECONDS - started))s)")
    else
        failed=$((failed + 1))
        results+=("FAIL  $name ($((SECONDS - started))s)")
        failures+=("--- $name" "$(failure_lines "$log")")
    fi
}

# failure_lines LOG: what names the failure, or the log's last lines when nothing does.
failure_lines() {
    local found
    found=$(grep -E '^(FAILED|ERROR) |^E  +|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|\(Subprocess aborted\)|error:|^==[0-9]+==ERROR' "$1" | tail -n 40)
    if [[ -n "$found" ]]; then
        printf '%s\n' "$found"
    else
        tail -n 20 "$1"
    fi
}

last_stage_passed() {
    [[ "${results[-1]}" == PASS* ]]
}

skip() {
    skipped+=("$1")
    results+=("SKIP  $1")
}

# --- stages ---------------------------------------------------------------------------------

release_build() {
    staleguard_configure "$ROOT" "$BUILD" gcc g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        staleguard_build "$BUILD"
}

release_unit_tests() {
    ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" -L unit
}

release_other_tests() {
    # Integration tests are RUN_SERIAL in CMake; everything that is not a unit test runs here.
    ctest --test-dir "$BUILD" --output-on-failure -LE unit
}

# Unit tests under ASan+UBSan, proxy layer included: gcc, because clang 14 with this libstdc++
# does not give Boost.Asio the coroutine support the proxy needs.
sanitize_build() {
    staleguard_configure "$ROOT" "$SANITIZE_BUILD" gcc g++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTALEGUARD_SANITIZE=ON -DSTALEGUARD_BENCH=OFF &&
        staleguard_build "$SANITIZE_BUILD"
}

sanitize_unit_tests() {
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --test-dir "$SANITIZE_BUILD" --output-on-failure -j "$(nproc)" -L unit
}

# The integration tests again with the sanitized binary: every client, malformed and hostile
# input, signal and TLS path of the real proxy under ASan+UBSan. An error aborts staleguard,
# which the tests see as a dropped connection or a bad exit status.
sanitize_integration_tests() {
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --test-dir "$SANITIZE_BUILD" --output-on-failure -L integration
}

# libFuzzer targets of the pure layers (codec, parser, rules): clang, ASan+UBSan.
fuzz_build() {
    staleguard_configure "$ROOT" "$FUZZ_BUILD" clang-14 clang++-14 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTALEGUARD_SANITIZE=ON -DSTALEGUARD_FUZZ=ON \
        -DSTALEGUARD_PROXY=OFF -DSTALEGUARD_TESTS=OFF -DSTALEGUARD_BENCH=OFF &&
        staleguard_build "$FUZZ_BUILD"
}

# fuzz_target BINARY: a bounded run over a copy of its seed corpus (the repo is never written).
fuzz_target() {
    local binary=$1
    local name
    name=$(basename "$binary")
    name=${name%_fuzz}
    local corpus=$WORK_DIR/corpus-$name
    mkdir -p "$corpus"
    if [[ -d "$ROOT/tests/fuzz/corpus/$name" ]]; then
        cp -R "$ROOT/tests/fuzz/corpus/$name/." "$corpus/"
    else
        echo "(no seed corpus at tests/fuzz/corpus/$name)"
    fi
    local extra=()
    if [[ -f "$ROOT/tests/fuzz/$name.dict" ]]; then
        extra+=(-dict="$ROOT/tests/fuzz/$name.dict")
    fi
    local log=$WORK_DIR/fuzz-$name.log
    if (cd "$WORK_DIR" && "$binary" -runs="$FUZZ_RUNS" -max_total_time="$FUZZ_SECONDS" -timeout=25 \
        -print_final_stats=1 "${extra[@]}" "$corpus" >"$log" 2>&1); then
        grep -E '^(stat::number_of_executed_units|Done )' "$log" || tail -n 3 "$log"
        return 0
    fi
    tail -n 60 "$log"
    # libFuzzer writes the crashing input to the working dir: show it, since the dir goes away.
    local crash
    for crash in "$WORK_DIR"/crash-* "$WORK_DIR"/leak-* "$WORK_DIR"/timeout-* "$WORK_DIR"/oom-*; do
        [[ -f "$crash" ]] || continue
        echo "input $(basename "$crash") (base64): $(base64 -w0 "$crash")"
    done
    return 1
}

# --- the run --------------------------------------------------------------------------------

started=$SECONDS
if ((run_install)); then
    stage "packages" staleguard_install_packages
    if ! last_stage_passed; then
        echo "cannot go on without packages"
    fi
fi

stage "release build (gcc)" release_build
if last_stage_passed; then
    stage "unit tests (release)" release_unit_tests
    stage "postgres: start throwaway cluster" staleguard_pg_start_test_cluster
    if last_stage_passed; then
        stage "integration tests (release)" release_other_tests
    else
        skip "integration tests (release)"
    fi
    staleguard_pg_stop
else
    skip "unit tests (release)"
    skip "integration tests (release)"
fi

if ((run_sanitize)); then
    stage "sanitize build (gcc, ASan+UBSan)" sanitize_build
    if last_stage_passed; then
        stage "unit tests (ASan+UBSan)" sanitize_unit_tests
        stage "postgres: start throwaway cluster (for the sanitized proxy)" staleguard_pg_start_test_cluster
        if last_stage_passed; then
            stage "integration tests (ASan+UBSan)" sanitize_integration_tests
        else
            skip "integration tests (ASan+UBSan)"
        fi
        staleguard_pg_stop
    else
        skip "unit tests (ASan+UBSan)"
        skip "integration tests (ASan+UBSan)"
    fi
    stage "fuzz build (clang-14, ASan+UBSan)" fuzz_build
    if last_stage_passed; then
        fuzzers=()
        while IFS= read -r f; do
            fuzzers+=("$f")
        done < <(find "$FUZZ_BUILD" -maxdepth 2 -type f -name '*_fuzz' -perm -u+x | sort)
        if ((${#fuzzers[@]} == 0)); then
            echo "(no *_fuzz targets built)"
        fi
        for f in "${fuzzers[@]}"; do
            stage "fuzz $(basename "$f") (${FUZZ_SECONDS}s / ${FUZZ_RUNS} runs)" fuzz_target "$f"
        done
    else
        skip "fuzzers"
    fi
fi

echo
echo "=== summary ($((SECONDS - started))s)"
printf '%s\n' "${results[@]}"
if ((${#skipped[@]} > 0)); then
    echo "skipped because an earlier stage failed: ${skipped[*]}"
fi
if ((${#failures[@]} > 0)); then
    echo
    echo "what failed:"
    printf '%s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
if ((failed > 0 || ${#skipped[@]} > 0)); then
    exit 1
fi
exit 0
