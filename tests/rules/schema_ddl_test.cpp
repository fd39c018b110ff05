// Schema helper DDL: golden scripts per rule and catalog state, with and without triggers.
#include "rules/schema_ddl.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rules/identifier.hpp"
#include "rules/rule_loader.hpp"

namespace staleguard::rules {
namespace {

using Relation = TableCatalogState::Relation;

TableCatalogState table_without_version() { return TableCatalogState{Relation::Table, "", std::nullopt, {}, {}}; }
TableCatalogState table_with_version(std::string type) { return TableCatalogState{Relation::Table, "", type, {}, {}}; }
TableCatalogState missing_table() { return TableCatalogState{}; }

// A table as a run with --triggers left it for `rule_yaml` (its first table).
TableRule first_rule(const std::string& rule_yaml) {
    auto loaded = load_rule_text(rule_yaml, "rules.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.problems.empty() ? "" : loaded.problems.front().to_string());
    return loaded.ok() ? loaded.rules->tables.front() : TableRule{};
}

TableCatalogState with_current_trigger(const std::string& rule_yaml, std::string type) {
    const TableRule rule = first_rule(rule_yaml);
    TableCatalogState state = table_with_version(std::move(type));
    state.bump_function_body = bump_function_body(rule);
    state.bump_trigger = ExistingBumpTrigger{bump_function_name(rule.table), bump_trigger_type, true, false, rule.watch};
    return state;
}

struct DdlCase {
    std::string name;
    std::string rules;  // a rule file
    std::vector<TableCatalogState> catalog;
    bool triggers = false;
    std::string script;
    std::vector<std::string> problems{};
    std::vector<std::string> warnings{};
};

const std::string nothing_to_do = "-- nothing to do: the database already has what the rules need\n";
const std::string only_problems = "-- no DDL to run; the problems reported need fixing by hand\n";

const std::string accounts = "tables:\n  - name: accounts\n";
const std::string events = "tables:\n  - name: events\n    kind: timestamp\n    version: changed_at\n";

const std::string create_function_comment = "-- public.accounts: create the function that bumps version (OLD + 1)\n";
const std::string create_trigger_comment =
    "-- public.accounts: create trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n";
const std::string accounts_function =
    "CREATE OR REPLACE FUNCTION public.staleguard_bump_accounts() RETURNS trigger\n"
    "    LANGUAGE plpgsql AS $staleguard$\n"
    "BEGIN\n"
    "    NEW.version := OLD.version + 1;\n"
    "    RETURN NEW;\n"
    "END\n"
    "$staleguard$;\n";
const std::string accounts_trigger =
    "DROP TRIGGER IF EXISTS staleguard_bump_version ON public.accounts;\n"
    "CREATE TRIGGER staleguard_bump_version BEFORE UPDATE ON public.accounts\n"
    "    FOR EACH ROW EXECUTE FUNCTION public.staleguard_bump_accounts();\n";
const std::string accounts_reminder =
    "-- set `bumped_by: trigger` for public.accounts in rules.yaml: the trigger bumps version on every UPDATE, so "
    "staleguard need not rewrite UPDATEs to bump it too\n";

std::vector<DdlCase> ddl_cases() {
    return {
        {"CounterColumnMissing", accounts, {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.accounts: add the counter version column version\n"
         "ALTER TABLE public.accounts ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"TimestampColumnMissing", events, {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.events: add the timestamp version column changed_at\n"
         "-- clock_timestamp() is volatile: adding the column rewrites public.events under an ACCESS EXCLUSIVE "
         "lock, which takes a while on a large table\n"
         "ALTER TABLE public.events ADD COLUMN IF NOT EXISTS changed_at timestamptz NOT NULL DEFAULT "
         "clock_timestamp();\n"
         "\nCOMMIT;\n"},
        {"XminNeedsNothing", "tables:\n  - name: ledger\n    version: xmin\n", {table_without_version()}, false,
         nothing_to_do},
        {"XminNeedsNoTriggerEither", "tables:\n  - name: ledger\n    kind: xmin\n", {table_without_version()}, true,
         nothing_to_do},
        {"CounterColumnPresent", accounts, {table_with_version("int4")}, false, nothing_to_do},
        {"NumericDomainCounts", accounts, {table_with_version("numeric")}, false, nothing_to_do},
        {"TimestampWithoutZonePresent", events, {table_with_version("timestamp")}, false, nothing_to_do},
        {"MixedCaseSchemaQualified",
         "tables:\n  - name: '\"Billing\".\"Invoices\"'\n    key: [id]\n    version: '\"RowVersion\"'\n",
         {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- \"Billing\".\"Invoices\": add the counter version column \"RowVersion\"\n"
         "ALTER TABLE \"Billing\".\"Invoices\" ADD COLUMN IF NOT EXISTS \"RowVersion\" bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"UnquotedNamesFold", "tables:\n  - name: Sales.Orders\n    version: Rev\n", {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- sales.orders: add the counter version column rev\n"
         "ALTER TABLE sales.orders ADD COLUMN IF NOT EXISTS rev bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"ReservedWordsAndQuotesQuoted",
         "tables:\n  - name: '\"order\"'\n    version: '\"user\"'\n  - name: '\"we\"\"ird name\"'\n",
         {table_without_version(), table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.\"order\": add the counter version column \"user\"\n"
         "ALTER TABLE public.\"order\" ADD COLUMN IF NOT EXISTS \"user\" bigint NOT NULL DEFAULT 1;\n"
         "\n"
         "-- public.\"we\"\"ird name\": add the counter version column version\n"
         "ALTER TABLE public.\"we\"\"ird name\" ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"UnreservedKeywordStaysBare", "tables:\n  - name: public.comment\n    version: position_\n",
         {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.comment: add the counter version column position_\n"
         "ALTER TABLE public.comment ADD COLUMN IF NOT EXISTS position_ bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"CounterWithTriggers", accounts, {table_without_version()}, true,
         "BEGIN;\n\n"
         "-- public.accounts: add the counter version column version\n"
         "ALTER TABLE public.accounts ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n" +
             create_function_comment + accounts_function + create_trigger_comment + accounts_trigger +
             accounts_reminder + "\nCOMMIT;\n"},
        {"TriggersOnAnExistingColumn", accounts, {table_with_version("int8")}, true,
         "BEGIN;\n\n" + create_function_comment + accounts_function + create_trigger_comment + accounts_trigger +
             accounts_reminder + "\nCOMMIT;\n"},
        {"TimestampWithTriggersAndBumpedByTrigger",
         "tables:\n  - name: audit.\"Events\"\n    kind: timestamp\n    version: '\"Changed At\"'\n"
         "    bumped_by: trigger\n",
         {table_with_version("timestamptz")}, true,
         "BEGIN;\n\n"
         "-- audit.\"Events\": create the function that bumps \"Changed At\" (clock_timestamp())\n"
         "CREATE OR REPLACE FUNCTION audit.\"staleguard_bump_Events\"() RETURNS trigger\n"
         "    LANGUAGE plpgsql AS $staleguard$\n"
         "BEGIN\n"
         "    NEW.\"Changed At\" := clock_timestamp();\n"
         "    RETURN NEW;\n"
         "END\n"
         "$staleguard$;\n"
         "-- audit.\"Events\": create trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n"
         "DROP TRIGGER IF EXISTS staleguard_bump_version ON audit.\"Events\";\n"
         "CREATE TRIGGER staleguard_bump_version BEFORE UPDATE ON audit.\"Events\"\n"
         "    FOR EACH ROW EXECUTE FUNCTION audit.\"staleguard_bump_Events\"();\n"
         "\nCOMMIT;\n"},
        {"WatchBecomesUpdateOf",
         "tables:\n  - name: accounts\n    watch: [balance, '\"Owner\"']\n    bumped_by: trigger\n",
         {table_with_version("int8")}, true,
         "BEGIN;\n\n" + create_function_comment + accounts_function +
             "-- public.accounts: create trigger staleguard_bump_version, BEFORE UPDATE OF the watch columns, FOR "
             "EACH ROW\n"
             "DROP TRIGGER IF EXISTS staleguard_bump_version ON public.accounts;\n"
             "CREATE TRIGGER staleguard_bump_version BEFORE UPDATE OF balance, \"Owner\" ON public.accounts\n"
             "    FOR EACH ROW EXECUTE FUNCTION public.staleguard_bump_accounts();\n"
             "\nCOMMIT;\n"},
        {"IgnoreGetsANote", "tables:\n  - name: accounts\n    ignore: [last_seen]\n    bumped_by: trigger\n",
         {table_with_version("int8")}, true,
         "BEGIN;\n\n" + create_function_comment + accounts_function + create_trigger_comment + accounts_trigger +
             "-- public.accounts: the trigger also bumps on UPDATEs that set only 'ignore' columns (a trigger cannot "
             "see which columns an UPDATE sets, only which it names with UPDATE OF)\n"
             "\nCOMMIT;\n"},
        {"TriggersCurrentBumpedByTrigger", accounts + "    bumped_by: trigger\n",
         {with_current_trigger(accounts, "int8")}, true, nothing_to_do},
        {"TriggersCurrentButRuleStillBumps", accounts, {with_current_trigger(accounts, "int8")}, true, nothing_to_do,
         {},
         {"public.accounts has the staleguard_bump_version trigger: set `bumped_by: trigger` for public.accounts in "
          "rules.yaml: the trigger bumps version on every UPDATE, so staleguard need not rewrite UPDATEs to bump it "
          "too"}},
        {"TriggerPresentWithoutTheFlagStillReminds", accounts, {with_current_trigger(accounts, "int8")}, false,
         nothing_to_do,
         {},
         {"public.accounts has the staleguard_bump_version trigger: set `bumped_by: trigger` for public.accounts in "
          "rules.yaml: the trigger bumps version on every UPDATE, so staleguard need not rewrite UPDATEs to bump it "
          "too"}},
        {"StaleFunctionBodyIsReplaced", accounts + "    bumped_by: trigger\n",
         {[] {
             TableCatalogState state = with_current_trigger(accounts, "int8");
             state.bump_function_body = "\nBEGIN\n    NEW.rev := OLD.rev + 1;\n    RETURN NEW;\nEND\n";
             return state;
         }()},
         true,
         "BEGIN;\n\n"
         "-- public.accounts: refresh the function that bumps version (OLD + 1)\n" +
             accounts_function + "\nCOMMIT;\n"},
        {"DisabledTriggerIsRecreated", accounts + "    bumped_by: trigger\n",
         {[] {
             TableCatalogState state = with_current_trigger(accounts, "int8");
             state.bump_trigger->enabled = false;
             return state;
         }()},
         true,
         "BEGIN;\n\n"
         "-- public.accounts: replace trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n" +
             accounts_trigger + "\nCOMMIT;\n"},
        {"TriggerCallingAnotherFunctionIsRecreated", accounts + "    bumped_by: trigger\n",
         {[] {
             TableCatalogState state = with_current_trigger(accounts, "int8");
             state.bump_trigger->function = QualifiedName{"public", "my_own_bump"};
             return state;
         }()},
         true,
         "BEGIN;\n\n"
         "-- public.accounts: replace trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n" +
             accounts_trigger + "\nCOMMIT;\n"},
        {"TriggerForOtherWatchColumnsIsRecreated", accounts + "    bumped_by: trigger\n",
         {[] {
             TableCatalogState state = with_current_trigger(accounts, "int8");
             state.bump_trigger->update_of = {"balance"};
             return state;
         }()},
         true,
         "BEGIN;\n\n"
         "-- public.accounts: replace trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n" +
             accounts_trigger + "\nCOMMIT;\n"},
        {"AfterTriggerIsRecreated", accounts + "    bumped_by: trigger\n",
         {[] {
             TableCatalogState state = with_current_trigger(accounts, "int8");
             state.bump_trigger->type = 1 | 16;  // AFTER UPDATE FOR EACH ROW
             return state;
         }()},
         true,
         "BEGIN;\n\n"
         "-- public.accounts: replace trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n" +
             accounts_trigger + "\nCOMMIT;\n"},
        {"MissingTable", accounts, {missing_table()}, true, only_problems,
         {"public.accounts: table does not exist (the schema helper adds columns and triggers to existing tables "
          "only)"}},
        {"View", accounts, {TableCatalogState{Relation::NotATable, "a view", std::nullopt, {}, {}}}, false,
         only_problems, {"public.accounts: is a view, not a table"}},
        {"WrongCounterType", accounts, {table_with_version("text")}, true, only_problems,
         {"public.accounts: version column version has type text; kind counter needs smallint, integer, bigint or "
          "numeric"}},
        {"WrongTimestampType", events, {table_with_version("int8")}, false, only_problems,
         {"public.events: version column changed_at has type int8; kind timestamp needs timestamp with or without "
          "time zone"}},
        {"ProblemsDoNotHideOtherTables", "tables:\n  - name: gone\n  - name: accounts\n",
         {missing_table(), table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.accounts: add the counter version column version\n"
         "ALTER TABLE public.accounts ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n",
         {"public.gone: table does not exist (the schema helper adds columns and triggers to existing tables only)"}},
        {"BumpedByTriggerWithoutATrigger", accounts + "    bumped_by: trigger\n", {table_with_version("int8")}, false,
         nothing_to_do,
         {},
         {"public.accounts: bumped_by: trigger, but the table has no staleguard_bump_version trigger; run with "
          "--triggers unless a trigger of your own bumps version"}},
        {"XminWithLeftoverTrigger", "tables:\n  - name: accounts\n    version: xmin\n",
         {with_current_trigger(accounts, "int8")}, true, nothing_to_do,
         {},
         {"public.accounts: kind xmin needs no trigger, but the table still has staleguard_bump_version from an "
          "earlier run; remove it with DROP TRIGGER IF EXISTS staleguard_bump_version ON public.accounts"}},
        {"DollarTagInsideAColumnName", "tables:\n  - name: t\n    version: v$staleguard$\n    bumped_by: trigger\n",
         {table_with_version("int4")}, true,
         "BEGIN;\n\n"
         "-- public.t: create the function that bumps v$staleguard$ (OLD + 1)\n"
         "CREATE OR REPLACE FUNCTION public.staleguard_bump_t() RETURNS trigger\n"
         "    LANGUAGE plpgsql AS $staleguard_1$\n"
         "BEGIN\n"
         "    NEW.v$staleguard$ := OLD.v$staleguard$ + 1;\n"
         "    RETURN NEW;\n"
         "END\n"
         "$staleguard_1$;\n"
         "-- public.t: create trigger staleguard_bump_version, BEFORE UPDATE, FOR EACH ROW\n"
         "DROP TRIGGER IF EXISTS staleguard_bump_version ON public.t;\n"
         "CREATE TRIGGER staleguard_bump_version BEFORE UPDATE ON public.t\n"
         "    FOR EACH ROW EXECUTE FUNCTION public.staleguard_bump_t();\n"
         "\nCOMMIT;\n"},
        {"NewlineInANameStaysInsideTheComment", "tables:\n  - name: \"\\\"a\\nb\\\"\"\n",
         {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.\"a\\x0ab\": add the counter version column version\n"
         "ALTER TABLE public.\"a\nb\" ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
        {"CatalogShorterThanRules", "tables:\n  - name: a\n  - name: b\n", {table_without_version()}, false,
         "BEGIN;\n\n"
         "-- public.a: add the counter version column version\n"
         "ALTER TABLE public.a ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1;\n"
         "\nCOMMIT;\n"},
    };
}

class SchemaDdl : public testing::TestWithParam<DdlCase> {};

TEST_P(SchemaDdl, GivesTheGoldenScript) {
    const DdlCase& c = GetParam();
    auto loaded = load_rule_text(c.rules, "rules.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems.front().to_string();
    const SchemaDdlPlan plan = plan_schema_ddl(*loaded.rules, c.catalog, SchemaDdlOptions{c.triggers, "rules.yaml"});
    EXPECT_EQ(plan.script(), c.script);
    EXPECT_THAT(plan.problems, testing::ElementsAreArray(c.problems));
    EXPECT_THAT(plan.warnings, testing::ElementsAreArray(c.warnings));
}

INSTANTIATE_TEST_SUITE_P(Rules, SchemaDdl, testing::ValuesIn(ddl_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SchemaDdlPlan, CountsStatementsOfEveryTable) {
    auto loaded = load_rule_text("tables:\n  - name: a\n  - name: b\n", "rules.yaml");
    ASSERT_TRUE(loaded.ok());
    const SchemaDdlPlan plan =
        plan_schema_ddl(*loaded.rules, {table_without_version(), table_with_version("int8")}, SchemaDdlOptions{true});
    EXPECT_EQ(plan.statement_count(), 4u + 3u);  // a: column, function, drop, create; b: function, drop, create
    EXPECT_FALSE(plan.nothing_to_do());
}

// ---- function names: PostgreSQL keeps 63 bytes of a name and would silently truncate ----

struct FunctionNameCase {
    std::string name;
    QualifiedName table;
    std::string expected_stem;  // the name, or what comes before "_<8 hex digits>" when shortened
    bool shortened;
};

std::string repeated(std::string_view text, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += text;
    return out;
}

std::vector<FunctionNameCase> function_name_cases() {
    return {
        {"Short", {"public", "accounts"}, "staleguard_bump_accounts", false},
        {"KeepsCase", {"s", "Accounts"}, "staleguard_bump_Accounts", false},
        {"ExactlyAtTheLimit", {"public", std::string(47, 'y')}, "staleguard_bump_" + std::string(47, 'y'), false},
        {"OneOverTheLimit", {"public", std::string(48, 'y')}, "staleguard_bump_" + std::string(38, 'y'), true},
        {"LongAscii", {"public", std::string(60, 'x')}, "staleguard_bump_" + std::string(38, 'x'), true},
        // 38 bytes of "aééé..." would end inside an 'é' (two bytes): the cut moves back one byte.
        {"Utf8CutAtACharacterBoundary", {"public", "a" + repeated("\xc3\xa9", 30)},
         "staleguard_bump_a" + repeated("\xc3\xa9", 18), true},
    };
}

class BumpFunctionName : public testing::TestWithParam<FunctionNameCase> {};

TEST_P(BumpFunctionName, FitsAndStaysInTheTablesSchema) {
    const FunctionNameCase& c = GetParam();
    const QualifiedName function = bump_function_name(c.table);
    EXPECT_EQ(function.schema, c.table.schema);
    EXPECT_LE(function.name.size(), max_identifier_bytes);
    if (!c.shortened) {
        EXPECT_EQ(function.name, c.expected_stem);
        return;
    }
    ASSERT_EQ(function.name.size(), c.expected_stem.size() + 9) << function.name;
    EXPECT_EQ(function.name.substr(0, c.expected_stem.size()), c.expected_stem);
    EXPECT_THAT(function.name.substr(c.expected_stem.size()), testing::MatchesRegex("_[0-9a-f]{8}"));
    EXPECT_EQ(bump_function_name(c.table), function) << "not deterministic";
}

INSTANTIATE_TEST_SUITE_P(Rules, BumpFunctionName, testing::ValuesIn(function_name_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BumpFunctionName, ShortenedNamesOfDifferentTablesDiffer) {
    const std::string stem(60, 'z');
    EXPECT_NE(bump_function_name({"public", stem + "1"}).name, bump_function_name({"public", stem + "2"}).name);
    EXPECT_NE(bump_function_name({"a", stem}).name, bump_function_name({"b", stem}).name);
}

}  // namespace
}  // namespace staleguard::rules
