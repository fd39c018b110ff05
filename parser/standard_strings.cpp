// Whether a query string reads the same with standard_conforming_strings off as staleguard's parser reads it (always on).
#include "parser/standard_strings.hpp"

#include <pg_query/pg_query.pb-c.h>

#include "parser/pg_query_handle.hpp"

namespace staleguard::parser {

bool reads_differently_without_standard_strings(std::string_view sql) {
    if (sql.find('\\') == std::string_view::npos) return false;
    auto tokens = scan_numbered(sql);
    if (!tokens.ok()) return true;
    for (const NumberedToken& token : tokens.value()) {
        if (token.number != PG_QUERY__TOKEN__SCONST) continue;
        const std::string_view text = sql.substr(token.token.start, token.token.end - token.token.start);
        // N'...' scans as NCHAR then a plain literal; E'...', U&'...' and $$...$$ start otherwise.
        if (text.starts_with('\'') && text.find('\\') != std::string_view::npos) return true;
    }
    return false;
}

}  // namespace staleguard::parser
