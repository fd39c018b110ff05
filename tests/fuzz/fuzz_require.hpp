// The fuzzers' invariant check. A macro, so that a broken invariant names itself in the CI log:
// the crashing input is printed there, but the line that rejected it is otherwise lost to abort().
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_REQUIRE(condition)                                                                       \
    do {                                                                                              \
        if (!(condition)) {                                                                           \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                             \
        }                                                                                             \
    } while (false)
