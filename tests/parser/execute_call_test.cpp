// Recognising EXECUTE name(arguments) in a query string.
#include "parser/execute_call.hpp"

#include <gtest/gtest.h>

namespace staleguard::parser {
namespace {

struct ExecuteCase {
    const char* name;
    const char* sql;
    bool is_execute;
    const char* statement = "";
    std::vector<std::optional<std::string>> arguments = {};
};

class ExecuteCallOf : public ::testing::TestWithParam<ExecuteCase> {};

TEST_P(ExecuteCallOf, Recognises) {
    const auto& c = GetParam();
    auto call = execute_call_of(c.sql);
    ASSERT_EQ(call.has_value(), c.is_execute);
    if (!call) return;
    EXPECT_EQ(call->name, c.statement);
    EXPECT_EQ(call->arguments, c.arguments);
}

const ExecuteCase kCases[] = {
    {"Literals", "EXECUTE upd(1, 2)", true, "upd", {"1", "2"}},
    {"LowerCaseAndSemicolon", "execute upd(7, 'x');", true, "upd", {"7", "x"}},
    {"NoArguments", "EXECUTE all_rows", true, "all_rows", {}},
    {"QuotedName", "EXECUTE \"Upd\"(1)", true, "Upd", {"1"}},
    {"CastArgument", "EXECUTE upd('5'::bigint, -3)", true, "upd", {"5", "-3"}},
    {"ExpressionArgumentIsUnknown", "EXECUTE upd(1 + 1, now())", true, "upd", {std::nullopt, std::nullopt}},
    {"ParameterArgumentIsUnknown", "EXECUTE upd($1, 2)", true, "upd", {std::nullopt, "2"}},
    {"LeadingComment", "/* retry */ EXECUTE upd(1)", true, "upd", {"1"}},
    {"NotExecute", "SELECT 1", false},
    {"WordInsideString", "SELECT 'execute upd(1)'", false},
    {"TwoStatements", "EXECUTE upd(1); EXECUTE upd(2)", false},
    {"SyntaxError", "EXECUTE", false},
    {"ExplainExecute", "EXPLAIN EXECUTE upd(1)", false},
};

INSTANTIATE_TEST_SUITE_P(Cases, ExecuteCallOf, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staleguard::parser
