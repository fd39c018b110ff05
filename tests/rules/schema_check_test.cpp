// The live-database check without a server: connection failures are problems carrying libpq's
// message. The checks against real catalogs run in the integration tests.
#include "rules/schema_check.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace staleguard::rules {
namespace {

struct UnreachableCase {
    std::string name;
    std::string conninfo;
    std::string libpq_says;  // a fragment of libpq's own message
};

class SchemaCheckWithoutServer : public testing::TestWithParam<UnreachableCase> {};

TEST_P(SchemaCheckWithoutServer, ReportsLibpqMessageAsTheOnlyProblem) {
    RuleSet rules;
    rules.tables.push_back(TableRule{});
    rules.tables.back().table = {"public", "accounts"};
    const auto report = check_rules_against_database(rules, GetParam().conninfo);
    EXPECT_FALSE(report.ok());
    EXPECT_TRUE(report.warnings.empty());
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_THAT(report.problems[0], testing::StartsWith("cannot connect to database: "));
    EXPECT_THAT(report.problems[0], testing::HasSubstr(GetParam().libpq_says));
    EXPECT_THAT(report.problems[0], testing::Not(testing::EndsWith("\n")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SchemaCheckWithoutServer,
    testing::Values(UnreachableCase{"malformed_conninfo", "this is not a conninfo", "missing \"=\" after \"this\""},
                    UnreachableCase{"unknown_option", "nosuchoption=1", "invalid connection option \"nosuchoption\""},
                    UnreachableCase{"missing_socket", "host=/nonexistent/staleguard port=1 connect_timeout=2",
                                    "/nonexistent/staleguard/.s.PGSQL.1"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::rules
