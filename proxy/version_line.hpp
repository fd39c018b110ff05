// What `staleguard --version` and the admin console's SHOW VERSION print.
#pragma once

#include <string>

namespace staleguard::session {

// "staleguard 0.1.0 (SQL parser: libpg_query for PostgreSQL 15.1)"
std::string version_line();

}  // namespace staleguard::session
