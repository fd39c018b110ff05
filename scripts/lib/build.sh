# Configuring and building staleguard's trees; sourced by test.sh and demo.sh.
# shellcheck shell=bash

# staleguard_configure ROOT BUILD_DIR C_COMPILER CXX_COMPILER [CMAKE_ARGS...]
# The compilers are only passed to a fresh tree: changing them on a configured tree makes CMake
# throw its cache away.
staleguard_configure() {
    local root=$1 build=$2 cc=$3 cxx=$4
    shift 4
    local compilers=()
    if [[ ! -f "$build/CMakeCache.txt" ]]; then
        compilers=(-DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx")
    fi
    cmake -S "$root" -B "$build" "${compilers[@]}" -DPYTHON3="$(staleguard_python)" "$@"
}

staleguard_build() {
    local build=$1
    shift
    cmake --build "$build" -j "$(nproc)" "$@"
}
