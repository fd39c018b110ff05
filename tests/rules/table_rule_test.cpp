// Decisions on a rule: name printing, which UPDATEs are guarded, role bypass, lookup.
#include "rules/table_rule.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace staleguard::rules {
namespace {

struct ToStringCase {
    std::string name;
    QualifiedName table;
    std::string expected;
};

class QualifiedNameToString : public testing::TestWithParam<ToStringCase> {};

TEST_P(QualifiedNameToString, QuotesOnlyWhereNeeded) { EXPECT_EQ(GetParam().table.to_string(), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Cases, QualifiedNameToString,
    testing::Values(ToStringCase{"plain", {"public", "accounts"}, "public.accounts"},
                    ToStringCase{"digits_dollar_underscore", {"s_1", "_t$2"}, "s_1._t$2"},
                    ToStringCase{"upper_case", {"billing", "Accounts"}, "billing.\"Accounts\""},
                    ToStringCase{"inner_quote_doubled", {"public", "a\"b"}, "public.\"a\"\"b\""},
                    ToStringCase{"space", {"my schema", "t"}, "\"my schema\".t"},
                    ToStringCase{"reserved_word", {"public", "user"}, "public.\"user\""},
                    ToStringCase{"reserved_schema", {"order", "select"}, "\"order\".\"select\""},
                    ToStringCase{"unreserved_keyword_stays_bare", {"public", "version"}, "public.version"},
                    ToStringCase{"leading_digit", {"public", "1t"}, "public.\"1t\""},
                    ToStringCase{"leading_dollar", {"public", "$t"}, "public.\"$t\""},
                    ToStringCase{"non_ascii", {"public", "Überweisungen"}, "public.\"Überweisungen\""},
                    ToStringCase{"empty_part", {"", "t"}, "\"\".t"}),
    [](const auto& info) { return info.param.name; });

using Columns = std::vector<std::string>;

struct GuardCase {
    std::string name;
    Columns watch;
    Columns ignore;
    Columns assigned;
    bool guarded;
};

class UpdateIsGuarded : public testing::TestWithParam<GuardCase> {};

TEST_P(UpdateIsGuarded, FollowsWatchAndIgnore) {
    TableRule rule;
    rule.watch = GetParam().watch;
    rule.ignore = GetParam().ignore;
    EXPECT_EQ(rule.update_is_guarded(GetParam().assigned), GetParam().guarded);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UpdateIsGuarded,
    testing::Values(GuardCase{"no_lists_one_column", {}, {}, {"x"}, true},
                    GuardCase{"no_lists_many_columns", {}, {}, {"x", "y", "z"}, true},
                    GuardCase{"watch_hit", {"balance"}, {}, {"balance"}, true},
                    GuardCase{"watch_hit_among_others", {"balance"}, {}, {"note", "balance"}, true},
                    GuardCase{"watch_miss", {"balance"}, {}, {"note"}, false},
                    GuardCase{"watch_miss_many", {"balance", "limit"}, {}, {"note", "seen"}, false},
                    GuardCase{"watch_is_case_sensitive", {"balance"}, {}, {"Balance"}, false},
                    GuardCase{"ignore_only_ignored", {}, {"last_seen"}, {"last_seen"}, false},
                    GuardCase{"ignore_all_ignored", {}, {"last_seen", "hits"}, {"hits", "last_seen"}, false},
                    GuardCase{"ignore_one_other", {}, {"last_seen"}, {"last_seen", "balance"}, true},
                    GuardCase{"ignore_other_only", {}, {"last_seen"}, {"balance"}, true}),
    [](const auto& info) { return info.param.name; });

struct BypassCase {
    std::string name;
    Columns bypass_roles;
    std::string role;
    bool bypasses;
};

class Bypasses : public testing::TestWithParam<BypassCase> {};

TEST_P(Bypasses, MatchesRoleNamesExactly) {
    TableRule rule;
    rule.bypass_roles = GetParam().bypass_roles;
    EXPECT_EQ(rule.bypasses(GetParam().role), GetParam().bypasses);
}

INSTANTIATE_TEST_SUITE_P(Cases, Bypasses,
                         testing::Values(BypassCase{"listed", {"loader", "admin"}, "admin", true},
                                         BypassCase{"not_listed", {"loader"}, "app", false},
                                         BypassCase{"no_roles", {}, "loader", false},
                                         BypassCase{"case_sensitive", {"loader"}, "Loader", false},
                                         BypassCase{"empty_role", {"loader"}, "", false},
                                         BypassCase{"prefix_is_not_a_match", {"loader"}, "load", false}),
                         [](const auto& info) { return info.param.name; });

RuleSet sample_rules() {
    RuleSet rules;
    TableRule accounts;
    accounts.table = {"public", "accounts"};
    TableRule invoices;
    invoices.table = {"billing", "Invoices"};
    rules.tables = {accounts, invoices};
    return rules;
}

struct FindCase {
    std::string name;
    QualifiedName table;
    int expected_index;  // -1: not found
};

class RuleSetFind : public testing::TestWithParam<FindCase> {};

TEST_P(RuleSetFind, MatchesSchemaAndNameExactly) {
    const RuleSet rules = sample_rules();
    const TableRule* found = rules.find(GetParam().table);
    if (GetParam().expected_index < 0) {
        EXPECT_EQ(found, nullptr);
    } else {
        EXPECT_EQ(found, &rules.tables[static_cast<std::size_t>(GetParam().expected_index)]);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, RuleSetFind,
                         testing::Values(FindCase{"public_accounts", {"public", "accounts"}, 0},
                                         FindCase{"billing_invoices", {"billing", "Invoices"}, 1},
                                         FindCase{"wrong_schema", {"billing", "accounts"}, -1},
                                         FindCase{"wrong_case", {"billing", "invoices"}, -1},
                                         FindCase{"unknown", {"public", "orders"}, -1},
                                         FindCase{"empty", {"", ""}, -1}),
                         [](const auto& info) { return info.param.name; });

struct ProtectsNameCase {
    std::string name;
    std::string table_name;
    bool protects;
};

class RuleSetProtectsName : public testing::TestWithParam<ProtectsNameCase> {};

TEST_P(RuleSetProtectsName, LooksAtTheNameInAnySchema) {
    EXPECT_EQ(sample_rules().protects_name(GetParam().table_name), GetParam().protects);
}

INSTANTIATE_TEST_SUITE_P(Cases, RuleSetProtectsName,
                         testing::Values(ProtectsNameCase{"public_table", "accounts", true},
                                         ProtectsNameCase{"other_schema_table", "Invoices", true},
                                         ProtectsNameCase{"case_differs", "invoices", false},
                                         ProtectsNameCase{"schema_name_is_not_a_table", "billing", false},
                                         ProtectsNameCase{"qualified_text_is_not_a_name", "public.accounts", false}),
                         [](const auto& info) { return info.param.name; });

TEST(RuleSet, EmptyRuleSetProtectsNothing) {
    const RuleSet rules;
    EXPECT_TRUE(rules.empty());
    EXPECT_EQ(rules.find({"public", "accounts"}), nullptr);
    EXPECT_FALSE(rules.protects_name("accounts"));
}

}  // namespace
}  // namespace staleguard::rules
