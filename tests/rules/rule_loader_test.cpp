// Rule-file loading against golden files: valid files give the expected rules, invalid ones the
// exact expected problem lines.
#include "rules/rule_loader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace staleguard::rules {
namespace {

// Problems name golden files by their path relative to this directory, e.g. "invalid/x.yaml",
// so the expected files do not depend on where the source tree lives.
const std::filesystem::path golden_dir = std::filesystem::path(STALEGUARD_TEST_DATA) / "rules" / "golden";

std::string read_file(const std::filesystem::path& path) {
    std::ifstream stream(path, std::ios::binary);
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
    std::ifstream stream(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(stream, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

RuleLoadResult load_golden(const std::string& relative) {
    return load_rule_text(read_file(golden_dir / relative), relative);
}

std::vector<std::string> problem_lines(const RuleLoadResult& result) {
    std::vector<std::string> lines;
    for (const auto& problem : result.problems) {
        lines.push_back(problem.to_string());
    }
    return lines;
}

std::vector<std::string> golden_stems(const std::string& folder) {
    std::vector<std::string> stems;
    for (const auto& entry : std::filesystem::directory_iterator(golden_dir / folder)) {
        if (entry.path().extension() == ".yaml") {
            stems.push_back(entry.path().stem().string());
        }
    }
    std::sort(stems.begin(), stems.end());
    return stems;
}

std::string stem_name(const testing::TestParamInfo<std::string>& info) {
    std::string name = info.param;
    std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    return name;
}

// ---- invalid files: exact problem lines ----

class InvalidRuleFile : public testing::TestWithParam<std::string> {};

TEST_P(InvalidRuleFile, ReportsExactlyTheExpectedProblems) {
    const std::string relative = "invalid/" + GetParam() + ".yaml";
    const auto expected_path = golden_dir / "invalid" / (GetParam() + ".expected");
    ASSERT_TRUE(std::filesystem::exists(expected_path)) << "missing " << expected_path;
    const auto result = load_golden(relative);
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(result.rules.has_value());
    EXPECT_THAT(problem_lines(result), testing::ElementsAreArray(read_lines(expected_path)));
}

INSTANTIATE_TEST_SUITE_P(Golden, InvalidRuleFile, testing::ValuesIn(golden_stems("invalid")), stem_name);

TEST(InvalidRuleFiles, CoverAtLeastTwentyFiveCases) { EXPECT_GE(golden_stems("invalid").size(), 25u); }

// ---- valid files: file-level settings ----

struct ValidFileCase {
    std::string name;
    std::string file;
    std::string sqlstate;
    UnanalysablePolicy unanalysable;
    std::size_t max_tracked_rows;
    std::size_t table_count;
};

class ValidRuleFile : public testing::TestWithParam<ValidFileCase> {};

TEST_P(ValidRuleFile, LoadsFileLevelSettings) {
    const auto& c = GetParam();
    const auto result = load_golden("valid/" + c.file);
    ASSERT_TRUE(result.ok()) << testing::PrintToString(problem_lines(result));
    EXPECT_TRUE(result.problems.empty());
    EXPECT_EQ(result.rules->sqlstate, c.sqlstate);
    EXPECT_EQ(result.rules->unanalysable, c.unanalysable);
    EXPECT_EQ(result.rules->max_tracked_rows, c.max_tracked_rows);
    EXPECT_EQ(result.rules->tables.size(), c.table_count);
}

INSTANTIATE_TEST_SUITE_P(
    Golden, ValidRuleFile,
    testing::Values(ValidFileCase{"minimal", "minimal.yaml", "40001", UnanalysablePolicy::Reject, 100000, 1},
                    ValidFileCase{"full", "full.yaml", "P0001", UnanalysablePolicy::Pass, 500, 2},
                    ValidFileCase{"quoted_names", "quoted_names.yaml", "40001", UnanalysablePolicy::Reject, 100000, 3},
                    ValidFileCase{"xmin", "xmin.yaml", "40001", UnanalysablePolicy::Reject, 100000, 3},
                    ValidFileCase{"flow_style", "flow_style.yaml", "40P01", UnanalysablePolicy::Reject, 1, 2},
                    ValidFileCase{"empty_tables", "empty_tables.yaml", "40001", UnanalysablePolicy::Reject, 100000, 0},
                    ValidFileCase{"unicode_names", "unicode_names.yaml", "40001", UnanalysablePolicy::Reject, 100000, 1}),
    [](const auto& info) { return info.param.name; });

TEST(ValidRuleFiles, EveryGoldenFileHasACase) {
    // A new valid golden file without a row above would go unchecked.
    EXPECT_THAT(golden_stems("valid"), testing::UnorderedElementsAre("minimal", "full", "quoted_names", "xmin",
                                                                      "flow_style", "empty_tables", "unicode_names"));
}

// ---- valid files: per-table decisions ----

using Columns = std::vector<std::string>;

struct TableDecisionCase {
    std::string name;
    std::string file;
    QualifiedName table;
    Columns key;
    std::string version_column;
    VersionKind kind;
    Mode mode;
    UnreadPolicy unread;
    DeletePolicy on_delete;
    BumpedBy bumped_by;
    std::vector<Columns> guarded_updates;
    std::vector<Columns> unguarded_updates;
    Columns bypassing_roles;
    Columns other_roles;
};

class GoldenTableDecision : public testing::TestWithParam<TableDecisionCase> {};

TEST_P(GoldenTableDecision, RuleSaysWhatTheFileSays) {
    const auto& c = GetParam();
    const auto result = load_golden("valid/" + c.file);
    ASSERT_TRUE(result.ok()) << testing::PrintToString(problem_lines(result));
    const TableRule* rule = result.rules->find(c.table);
    ASSERT_NE(rule, nullptr) << c.table.to_string() << " not protected";
    EXPECT_EQ(rule->table, c.table);
    EXPECT_TRUE(result.rules->protects_name(c.table.name));
    EXPECT_EQ(rule->key, c.key);
    EXPECT_EQ(rule->version_column, c.version_column);
    EXPECT_EQ(rule->kind, c.kind);
    EXPECT_EQ(rule->mode, c.mode);
    EXPECT_EQ(rule->unread, c.unread);
    EXPECT_EQ(rule->on_delete, c.on_delete);
    EXPECT_EQ(rule->bumped_by, c.bumped_by);
    for (const auto& columns : c.guarded_updates) {
        EXPECT_TRUE(rule->update_is_guarded(columns)) << testing::PrintToString(columns);
    }
    for (const auto& columns : c.unguarded_updates) {
        EXPECT_FALSE(rule->update_is_guarded(columns)) << testing::PrintToString(columns);
    }
    for (const auto& role : c.bypassing_roles) {
        EXPECT_TRUE(rule->bypasses(role)) << role;
    }
    for (const auto& role : c.other_roles) {
        EXPECT_FALSE(rule->bypasses(role)) << role;
    }
}

constexpr auto counter = VersionKind::Counter;
constexpr auto track = Mode::Track;
constexpr auto allow_unread = UnreadPolicy::Allow;
constexpr auto check_delete = DeletePolicy::Check;
constexpr auto by_staleguard = BumpedBy::Staleguard;

INSTANTIATE_TEST_SUITE_P(
    Golden, GoldenTableDecision,
    testing::Values(
        TableDecisionCase{"minimal_defaults", "minimal.yaml", {"public", "accounts"}, {"id"}, "version", counter,
                          track, allow_unread, check_delete, by_staleguard, {{"balance"}, {"id", "version"}}, {},
                          {}, {"postgres", "loader"}},
        TableDecisionCase{"full_invoices", "full.yaml", {"billing", "invoices"}, {"tenant_id", "invoice_no"},
                          "updated_at", VersionKind::Timestamp, Mode::Client, UnreadPolicy::Reject,
                          DeletePolicy::Allow, BumpedBy::Trigger, {{"amount"}, {"note", "status"}},
                          {{"note"}, {"tenant_id"}}, {"loader", "migrator"}, {"Migrator", "LOADER", "postgres"}},
        TableDecisionCase{"full_counters", "full.yaml", {"public", "counters"}, {"id"}, "rev", counter,
                          Mode::Increment, allow_unread, check_delete, by_staleguard, {{"name"}, {"hits", "name"}},
                          {{"hits"}, {"last_seen", "hits"}}, {}, {"loader"}},
        TableDecisionCase{"quoted_keeps_case", "quoted_names.yaml", {"billing", "Accounts"}, {"AccountId", "region"},
                          "Version", counter, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {},
                          {"Admin"}, {"admin", "ADMIN"}},
        // YAML's double quotes are YAML syntax, so Sales.Orders is unquoted SQL and folds.
        TableDecisionCase{"yaml_quotes_fold", "quoted_names.yaml", {"sales", "orders"}, {"id"}, "version", counter,
                          track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}},
        TableDecisionCase{"quoted_with_space_and_quote", "quoted_names.yaml", {"my schema", "order \"items\""}, {"id"},
                          "version", counter, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}},
        TableDecisionCase{"version_xmin_implies_kind", "xmin.yaml", {"public", "by_version"}, {"id"}, "xmin",
                          VersionKind::Xmin, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}},
        TableDecisionCase{"kind_xmin_implies_version", "xmin.yaml", {"public", "by_kind"}, {"id"}, "xmin",
                          VersionKind::Xmin, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}},
        // With xmin the default name "version" is free to be a key column.
        TableDecisionCase{"xmin_both_key_named_version", "xmin.yaml", {"public", "by_both"}, {"version"}, "xmin",
                          VersionKind::Xmin, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}},
        TableDecisionCase{"flow_composite_key", "flow_style.yaml", {"public", "a"}, {"x", "y"}, "version", counter,
                          track, allow_unread, check_delete, by_staleguard, {{"z"}}, {}, {}, {}},
        TableDecisionCase{"flow_schema_qualified", "flow_style.yaml", {"s", "b"}, {"id"}, "version", counter,
                          Mode::Increment, allow_unread, check_delete, by_staleguard, {{"z"}}, {}, {}, {}},
        TableDecisionCase{"unicode_folds_ascii_only", "unicode_names.yaml", {"public", "Überweisungen"}, {"nummer"},
                          "version", counter, track, allow_unread, check_delete, by_staleguard, {{"x"}}, {}, {}, {}}),
    [](const auto& info) { return info.param.name; });

TEST(GoldenTableDecision, UnlistedTablesAreNotProtected) {
    const auto result = load_golden("valid/full.yaml");
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.rules->find({"public", "invoices"}), nullptr);
    EXPECT_EQ(result.rules->find({"billing", "Invoices"}), nullptr);
    EXPECT_FALSE(result.rules->protects_name("accounts"));
}

// ---- entry points and limits ----

TEST(LoadRuleFile, NamesTheFileByTheGivenPath) {
    const auto path = (golden_dir / "invalid" / "unknown_mode.yaml").string();
    const auto result = load_rule_file(path);
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems[0].file, path);
    EXPECT_EQ(result.problems[0].line, 3);
    EXPECT_EQ(result.problems[0].column, 11);
}

TEST(LoadRuleFile, LoadsAValidFile) {
    const auto result = load_rule_file((golden_dir / "valid" / "full.yaml").string());
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.rules->tables.size(), 2u);
}

TEST(LoadRuleFile, MissingFileIsAProblemWithoutPosition) {
    const auto result = load_rule_file("/nonexistent/staleguard/rules.yaml");
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems[0].to_string(),
              "/nonexistent/staleguard/rules.yaml: cannot open rule file: No such file or directory");
}

TEST(LoadRuleFile, ExampleFileShippedWithTheProjectLoads) {
    const auto result = load_rule_file((std::filesystem::path(STALEGUARD_TEST_DATA) / ".." / "examples" / "rules.yaml").string());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(problem_lines(result));
    const TableRule* rule = result.rules->find({"public", "accounts"});
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->key, Columns{"id"});
    EXPECT_EQ(rule->version_column, "version");
    EXPECT_EQ(rule->mode, Mode::Track);  // the demo shows a lost update stopped with no change to the client
}

TEST(LoadRuleText, RefusesOversizedInputBeforeParsing) {
    const std::string text = "tables: []\n" + std::string(max_rule_file_bytes, '#');
    const auto result = load_rule_text(text, "big.yaml");
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems[0].to_string(), "big.yaml: rule file is larger than 1048576 bytes");
}

TEST(LoadRuleText, DeeplyNestedInputIsAProblemNotACrash) {
    const std::string text = "tables: " + std::string(5000, '[');
    const auto result = load_rule_text(text, "deep.yaml");
    EXPECT_FALSE(result.ok());
    ASSERT_FALSE(result.problems.empty());
    EXPECT_THAT(result.problems[0].message, testing::StartsWith("YAML syntax error: "));
}

TEST(LoadRuleText, NulBytesAndControlCharactersStayOnOneLine) {
    const std::string text = std::string("tables:\n  - name: \"a\\x01b\"\n", 27);
    const auto result = load_rule_text(text, "ctl.yaml");
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems[0].to_string(),
              "ctl.yaml:2:11: invalid table name 'a\\x01b': contains invalid character '\\x01'");
}

// Found by the fuzzer: yaml-cpp puts the offending byte, here a newline after a NUL, in its message.
TEST(LoadRuleText, YamlErrorMessagesAreMadePrintable) {
    const std::string text("a: b\nc\0\n", 8);
    const auto result = load_rule_text(text, "nul.yaml");
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_THAT(result.problems[0].to_string(), testing::StartsWith("nul.yaml:3:1: YAML syntax error: "));
    EXPECT_EQ(result.problems[0].to_string().find('\n'), std::string::npos);
}

TEST(RuleProblem, FormatsFileLineColumnMessage) {
    EXPECT_EQ((RuleProblem{"r.yaml", 3, 7, "bad"}).to_string(), "r.yaml:3:7: bad");
    EXPECT_EQ((RuleProblem{"r.yaml", 0, 0, "gone"}).to_string(), "r.yaml: gone");
}

}  // namespace
}  // namespace staleguard::rules
