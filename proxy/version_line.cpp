// The version line: staleguard's own version and the PostgreSQL grammar its parser was built from.
#include "proxy/version_line.hpp"

#include <pg_query.h>

#include "proxy/version.hpp"

namespace staleguard::session {

std::string version_line() {
    return std::string("staleguard ") + kVersion + " (SQL parser: libpg_query for PostgreSQL " + PG_VERSION + ")";
}

}  // namespace staleguard::session
