// Tests for the token prefilter: which strings skip the parse, and that skipping it never hides anything.
#include "parser/token_prefilter.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "parser/rewrite.hpp"
#include "parser/statement_analysis.hpp"
#include "proxy/worker_thread.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

struct PrefilterCase {
    const char* name;
    std::string sql;
    bool needs_parse;
};

std::ostream& operator<<(std::ostream& out, const PrefilterCase& test_case) { return out << test_case.name; }

std::string repeated(std::string_view text, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += text;
    return out;
}

const std::vector<PrefilterCase> prefilter_cases = {
    // ---- nothing analysis reacts to: no parse ----
    {"pgbench_select", "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", false},
    {"select_join", "SELECT a.id, o.total FROM accounts a JOIN orders o ON o.account_id = a.id WHERE a.id = $1", false},
    {"select_for_share", "SELECT * FROM accounts WHERE id = 1 FOR SHARE", false},
    {"two_selects", "SELECT 1 FROM accounts; SELECT 2", false},
    {"cte_select", "WITH x AS (SELECT * FROM accounts) SELECT count(*) FROM x", false},
    {"update_in_string", "SELECT 'UPDATE accounts SET a = 1' FROM accounts", false},
    {"update_in_dollar_quote", "SELECT $q$DELETE FROM accounts; SET search_path TO x$q$", false},
    {"set_in_comments", "/* SET search_path TO x */ SELECT 1 -- RESET ALL\n", false},
    {"keywords_in_quoted_identifiers", "SELECT \"update\", \"set\", \"delete\" FROM accounts", false},
    {"set_config_in_string", "SELECT 'set_config' FROM accounts", false},
    {"set_config_longer_name", "SELECT my_set_config(1), set_configs FROM accounts", false},
    {"information_schema", "SELECT * FROM information_schema.tables WHERE table_schema = 'public'", false},
    {"execute", "EXECUTE p(1, 2)", false},
    {"copy_to", "COPY accounts TO STDOUT", false},
    {"truncate", "TRUNCATE accounts", false},
    {"show", "SHOW search_path", false},
    {"explain_select", "EXPLAIN SELECT * FROM accounts", false},
    {"call", "CALL refresh_accounts()", false},
    {"empty", "", false},
    {"only_semicolons", " ; ; ", false},
    // Each unary minus before a column nests two messages deeper: the deepest a string within the
    // token limit can go, and still far from max_tree_depth.
    {"unary_chain_at_limit", "SELECT " + repeated("- ", max_prefiltered_tokens - 4) + "aid FROM accounts", false},
    // ---- analysis may find something: parse ----
    {"pgbench_update", "UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 12345;", true},
    {"lower_case_update", "update accounts set a = 1", true},
    {"delete", "DELETE FROM accounts WHERE id = 1", true},
    {"insert", "INSERT INTO accounts VALUES (1)", true},
    {"merge", "MERGE INTO accounts a USING s ON a.id = s.id WHEN MATCHED THEN DELETE", true},
    {"writing_cte", "WITH u AS (UPDATE accounts SET a = 1 RETURNING *) SELECT * FROM u", true},
    {"select_for_update", "SELECT * FROM accounts WHERE id = 1 FOR UPDATE", true},
    {"second_statement_writes", "SELECT 1; DELETE FROM accounts", true},
    {"set_config", "SELECT set_config('search_path', 'app', false)", true},
    {"set_config_upper_case", "SELECT SET_CONFIG('search_path', 'app', false)", true},
    {"set_config_qualified", "SELECT pg_catalog.set_config('staleguard.enabled', 'off', true)", true},
    {"set_config_quoted", "SELECT \"set_config\"('search_path', 'app', false)", true},
    {"unicode_identifier", "SELECT U&\"\\0073et_config\"('search_path', 'app', false)", true},
    {"set", "SET search_path TO app", true},
    {"set_schema", "SET SCHEMA 'app'", true},
    {"reset_all", "RESET ALL", true},
    {"discard_all", "DISCARD ALL", true},
    {"prepare", "PREPARE p AS SELECT * FROM accounts", true},
    {"do_block", "DO $$ BEGIN PERFORM 1; END $$", true},
    {"create_function", "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql", true},
    {"create_rule", "CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", true},
    {"create_view", "CREATE VIEW v AS SELECT * FROM accounts", true},
    {"unterminated_string", "SELECT 'abc FROM accounts", true},
    {"too_many_tokens", "SELECT " + repeated("- ", max_prefiltered_tokens) + "aid FROM accounts", true},
    {"deep_unary_chain", "SELECT " + repeated("- ", 1500) + "aid FROM accounts", true},
};

class TokenPrefilterTable : public ::testing::TestWithParam<PrefilterCase> {};

TEST_P(TokenPrefilterTable, DecidesWhetherToParse) {
    const PrefilterCase& test_case = GetParam();
    const TokenPrefilter prefilter = prefilter_tokens(test_case.sql);
    EXPECT_EQ(prefilter.needs_parse, test_case.needs_parse);
    // The scan is handed on only when a parse follows, and then it is the scan itself.
    if (prefilter.tokens) {
        EXPECT_TRUE(prefilter.needs_parse);
        auto tokens = scan(test_case.sql);
        ASSERT_TRUE(tokens.ok());
        EXPECT_EQ(*prefilter.tokens, tokens.value());
    }
}

// What makes skipping the parse safe: whenever the prefilter says no parse, the analysis of
// the parse it skips finds nothing at all.
TEST_P(TokenPrefilterTable, SkipsOnlyWhereAnalysisFindsNothing) {
    const PrefilterCase& test_case = GetParam();
    if (prefilter_tokens(test_case.sql).needs_parse) return;
    auto tree = parse(test_case.sql);
    ASSERT_TRUE(tree.ok()) << tree.error().message;
    for (const StatementInfo& info : analyse(tree.value(), test_case.sql)) {
        EXPECT_TRUE(info.writes.empty());
        EXPECT_TRUE(info.effects.empty());
        EXPECT_TRUE(info.opaque_texts.empty());
        EXPECT_TRUE(info.prepared_name.empty());
        EXPECT_FALSE(info.unsupported.has_value()) << *info.unsupported;
        EXPECT_FALSE(info.setting_error.has_value());
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, TokenPrefilterTable, ::testing::ValuesIn(prefilter_cases),
                         [](const ::testing::TestParamInfo<PrefilterCase>& info) { return std::string(info.param.name); });

RewriteContext public_context() {
    RewriteContext context;
    context.resolve_schema = [](std::string_view) -> std::optional<std::string> { return "public"; };
    context.role = "app";
    return context;
}

// A parsed string reports one entry per statement; one passed on its tokens reports none.
TEST(RewriterPrefilter, SelectOverProtectedTableIsUntouchedWithoutParse) {
    const Rewriter rewriter(testing::rule_set("public.pgbench_accounts mode=increment"));
    const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;";
    ASSERT_TRUE(rewriter.may_need_rewrite(sql));  // the name precheck lets it through
    const RewriteResult result = rewriter.rewrite(sql, public_context());
    EXPECT_EQ(result.outcome, RewriteResult::Outcome::Untouched);
    EXPECT_EQ(result.sql, sql);
    EXPECT_TRUE(result.statements.empty());
    EXPECT_EQ(rewriter.cache_stats().misses, 0u);  // decided before the result cache
    EXPECT_TRUE(rewriter.names_to_resolve(sql).empty());
    // Asked again (now from the name cache), the same answer.
    EXPECT_TRUE(rewriter.rewrite(sql, public_context()).statements.empty());
}

TEST(RewriterPrefilter, SetConfigIsStillParsed) {
    const Rewriter rewriter(testing::rule_set("public.accounts mode=client"));
    const RewriteResult result =
        rewriter.rewrite("SELECT set_config('staleguard.enabled', 'off', false) FROM accounts", public_context());
    EXPECT_EQ(result.outcome, RewriteResult::Outcome::Untouched);
    ASSERT_EQ(result.statements.size(), 1u);
    EXPECT_EQ(testing::all_effects(result), std::vector<std::string>{"SetChecksEnabled off"});
}

TEST(RewriterPrefilter, WritingCteIsStillRewritten) {
    const Rewriter rewriter(testing::rule_set("public.accounts mode=increment"));
    const RewriteResult result =
        rewriter.rewrite("WITH u AS (UPDATE accounts SET a = 1 RETURNING id) SELECT * FROM u", public_context());
    EXPECT_EQ(result.outcome, RewriteResult::Outcome::Rewritten);
    EXPECT_EQ(result.sql,
              "WITH u AS (UPDATE accounts SET a = 1, version = accounts.version + 1 RETURNING id) SELECT * FROM u");
    EXPECT_EQ(rewriter.names_to_resolve("WITH u AS (UPDATE accounts SET a = 1 RETURNING id) SELECT * FROM u"),
              std::vector<std::string>{"accounts"});
}

TEST(RewriterPrefilter, DeeplyNestedSelectIsStillJudgedByTheParse) {
    // Analysis gives up on a statement this deep, and the rewriter rejects one that mentions a
    // protected table: the token limit keeps the prefilter from waving it through.
    // The proxy parses on workers with deep stacks, and so does this test: under ASan the
    // parser's frames outgrow the main thread's 8 MiB at this depth.
    const Rewriter rewriter(testing::rule_set("public.accounts mode=increment"));
    const std::string sql = "SELECT " + repeated("- ", 1500) + "aid FROM accounts";
    RewriteResult result;
    session::WorkerThread([&] { result = rewriter.rewrite(sql, public_context()); }).join();
    EXPECT_EQ(result.outcome, RewriteResult::Outcome::Rejected);
    EXPECT_EQ(result.error_sqlstate, "0A000");
}

}  // namespace
}  // namespace staleguard::parser
