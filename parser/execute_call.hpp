// Recognising `EXECUTE name(arguments)`: which SQL-level prepared statement a string runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace staleguard::parser {

struct ExecuteCall {
    std::string name;
    std::vector<std::optional<std::string>> arguments;  // as text; nullopt when not a constant
};

// For a string that is one EXECUTE statement; nullopt for anything else. Cheap when the text
// does not contain the word EXECUTE (no parse).
std::optional<ExecuteCall> execute_call_of(std::string_view sql);

}  // namespace staleguard::parser
