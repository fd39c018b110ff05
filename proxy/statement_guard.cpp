// Statement policy of one session: planning rewritten statements, checks and the settings they follow.
#include "proxy/statement_guard.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "parser/ascii_case.hpp"
#include "parser/execute_call.hpp"
#include "parser/pg_query_handle.hpp"
#include "parser/position_map.hpp"
#include "parser/standard_strings.hpp"
#include "proxy/codec/binary_values.hpp"
#include "proxy/codec/text_values.hpp"
#include "proxy/codec/type_oids.hpp"

namespace staleguard::session {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return text;
}

// One entry of a search_path value, as PostgreSQL prints it: "$user", public, "My Schema".
std::string unquote_path_entry(std::string_view entry) {
    entry = trim(entry);
    if (entry.size() >= 2 && entry.front() == '"' && entry.back() == '"') {
        std::string out;
        for (std::size_t i = 1; i + 1 < entry.size(); ++i) {
            out += entry[i];
            if (entry[i] == '"' && i + 2 < entry.size() && entry[i + 1] == '"') ++i;
        }
        return out;
    }
    return parser::ascii_lowered(entry);
}

std::vector<std::string> split_search_path(std::string_view path) {
    std::vector<std::string> entries;
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= path.size(); ++i) {
        if (i < path.size() && path[i] == '"') quoted = !quoted;
        if (i == path.size() || (path[i] == ',' && !quoted)) {
            auto entry = unquote_path_entry(path.substr(start, i - start));
            if (!entry.empty()) entries.push_back(std::move(entry));
            start = i + 1;
        }
    }
    return entries;
}

// PostgreSQL's default search_path.
constexpr std::string_view kDefaultSearchPath = "\"$user\", public";

}  // namespace

wire::ErrorResponse stale_write_error(const WriteCheck& check, std::uint64_t rows_changed) {
    std::string message = "stale write to " + check.table;
    if (!check.key_values.empty()) {
        const bool list = check.key_values.front() == '(' && check.key_columns.find(',') == std::string::npos;
        message += list ? " (" + check.key_columns + ") in " + check.key_values
                        : " (" + check.key_columns + ")=(" + check.key_values + ")";
    }
    message += check.expected_rows > 1 ? ": rows changed since they were read" : ": row changed since it was read";
    std::string detail;
    if (!check.expected_version.empty()) detail = "Expected version " + check.expected_version + ".";
    if (check.expected_rows > 1) {
        if (!detail.empty()) detail += " ";
        detail += std::to_string(rows_changed) + " of " + std::to_string(check.expected_rows) +
                  " rows still had that version; nothing was written.";
    } else {
        if (!detail.empty()) detail += " ";
        detail += check.is_delete ? "The row was changed or deleted by another session; it was not deleted."
                                  : "The row was changed or deleted by another session; nothing was written.";
    }
    auto error = wire::ErrorResponse::make(check.sqlstate, message, detail);
    error.fields.emplace_back(wire::field::Hint, "Read the row again and retry the change.");
    return error;
}

namespace {

// The error for a string the rewriter refused, with the ways past it when it could not analyse
// a statement (a DDL script that creates functions over a protected table hits this).
// The error for a statement that may touch a protected table and that staleguard cannot
// analyse, under `unanalysable: reject`: `hint` says how to send it otherwise.
std::vector<std::uint8_t> unanalysable_error(std::string message, std::string_view hint) {
    auto error = wire::ErrorResponse::make(std::string(parser::unanalysable_sqlstate), std::move(message));
    error.fields.emplace_back(wire::field::Hint, std::string(hint) +
                                                     "; unanalysable: pass in the rule file lets such statements "
                                                     "through unchecked.");
    return error.encode();
}

// A Query plan that makes the server fail the string and shows the client `error` instead.
QueryPlan refused_query(std::vector<std::uint8_t> error) {
    QueryPlan plan;
    plan.kind = QueryPlan::Kind::Replace;
    plan.sql = std::string(kServerSideFailure);
    plan.replacement_error = std::move(error);
    return plan;
}

std::vector<std::uint8_t> rejection_error(const parser::RewriteResult& result) {
    auto error = wire::ErrorResponse::make(result.error_sqlstate, result.error_message);
    if (result.error_sqlstate == parser::unanalysable_sqlstate) {
        error.fields.emplace_back(wire::field::Hint,
                                  "Send it straight to PostgreSQL (as for schema changes), or let such statements "
                                  "through unchanged with unanalysable: pass in the rule file.");
    }
    return error.encode();
}

}  // namespace

bool has_off_comment(std::string_view sql) {
    constexpr std::string_view marker = "staleguard:off";
    if (sql.find(marker) == std::string_view::npos) return false;
    auto tokens = parser::scan(sql);
    if (!tokens.ok()) return false;
    for (const auto& token : tokens.value()) {
        if (token.kind != parser::TokenKind::Comment) continue;
        std::string_view text = sql.substr(token.start, token.end - token.start);
        if (text.starts_with("/*")) text = text.substr(2, text.size() >= 4 ? text.size() - 4 : 0);
        else if (text.starts_with("--")) text.remove_prefix(2);
        if (trim(text) == marker) return true;
    }
    return false;
}

std::string substitute(std::string_view text, const std::function<std::optional<std::string>(std::size_t)>& value_of) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$' || i + 1 >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
            out += text[i];
            continue;
        }
        std::size_t j = i + 1;
        std::size_t number = 0;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && number < 100000)
            number = number * 10 + static_cast<std::size_t>(text[j++] - '0');
        if (auto value = value_of(number)) out += *value;
        else out.append(text.substr(i, j - i));
        i = j - 1;
    }
    return out;
}

namespace {

std::int16_t parameter_format(const wire::Bind& bind, std::size_t index) {
    if (bind.parameter_formats.size() == 1) return bind.parameter_formats[0];
    return index < bind.parameter_formats.size() ? bind.parameter_formats[index] : 0;
}

// Parameter `index` of a Bind as text; nullopt for a binary value in a type whose text is not
// known for sure (see wire::binary_value_text).
std::optional<std::string> bound_parameter_text(const wire::Bind& bind, std::size_t index,
                                                const std::vector<std::uint32_t>& parameter_types,
                                                const wire::ValueTextSettings& settings) {
    const auto& value = bind.parameters[index];
    if (!value) return std::string("NULL");
    const std::uint32_t type = index < parameter_types.size() ? parameter_types[index] : 0;
    if (parameter_format(bind, index) == 0) {
        const std::string_view text(reinterpret_cast<const char*>(value->data()), value->size());
        // pgjdbc's '2024-05-01 +00' for a date: the key as the server will print it.
        if (auto canonical = wire::canonical_text_value(text, type, settings)) return canonical;
        return std::string(text);
    }
    return wire::binary_value_text(*value, type, settings);
}

}  // namespace

std::optional<std::string> substitute_bound_parameters(std::string_view text, const wire::Bind& bind,
                                                      const std::vector<std::uint32_t>& parameter_types,
                                                      const wire::ValueTextSettings& settings) {
    bool known = true;
    std::string out = substitute(text, [&](std::size_t number) -> std::optional<std::string> {
        if (number == 0 || number > bind.parameters.size()) return std::nullopt;
        auto value = bound_parameter_text(bind, number - 1, parameter_types, settings);
        known = known && value.has_value();
        return value;
    });
    if (!known) return std::nullopt;
    return out;
}

std::string substitute_parameters(std::string_view text, const wire::Bind& bind,
                                  const std::vector<std::uint32_t>& parameter_types,
                                  const wire::ValueTextSettings& settings) {
    return substitute(text, [&](std::size_t number) -> std::optional<std::string> {
        if (number == 0 || number > bind.parameters.size()) return std::nullopt;
        return bound_parameter_text(bind, number - 1, parameter_types, settings).value_or("?");
    });
}

void learn_parameter_types(ParameterTypes& declared, const std::vector<std::uint32_t>& described) {
    if (declared.size() < described.size()) declared.resize(described.size(), 0);
    for (std::size_t i = 0; i < described.size(); ++i) {
        if (declared[i] == 0) declared[i] = described[i];
    }
}

bool StatementGuard::checks_enabled() const { return checks_enabled_local_.value_or(checks_enabled_); }

void StatementGuard::set_search_path(std::optional<std::string> value) {
    search_path_ = std::move(value);
    schema_of_.clear();
}

parser::RewriteContext StatementGuard::context(const parser::Rewriter& rewriter) {
    parser::RewriteContext context;
    context.resolve_schema = [this, &rewriter](std::string_view name) { return resolve(rewriter, name); };
    context.role = role_;
    context.checks_enabled = checks_enabled();
    max_tracked_rows_ = rewriter.rules().max_tracked_rows;
    journal_.set_max_entries(max_tracked_rows_);
    return context;
}

std::optional<std::string> StatementGuard::resolve(const parser::Rewriter& rewriter, std::string_view bare_name) const {
    if (auto known = schema_of_.find(std::string(bare_name)); known != schema_of_.end()) return known->second;
    // Not learnt from the server (it was busy): follow the search_path we know, which cannot see a
    // table without a rule that shadows a protected one.
    for (auto& schema : split_search_path(search_path_.value_or(std::string(kDefaultSearchPath)))) {
        const std::string resolved = schema == "$user" ? role_ : schema;
        if (rewriter.rules().find(rules::QualifiedName{resolved, std::string(bare_name)})) return resolved;
    }
    return std::nullopt;
}

std::vector<std::string> StatementGuard::names_to_look_up(const parser::Rewriter& rewriter, std::string_view sql) {
    std::vector<std::string> names;
    if (rewriter.rules().empty() || !rewriter.may_need_rewrite(sql)) return names;
    // A trusted shape names the same tables as every string of it, and is analysed already.
    std::string_view analysed = sql;
    if (const auto* shape = shape_of(sql)) {
        parser::RewriteContext asked;
        asked.role = role_;
        asked.checks_enabled = checks_enabled() && !has_off_comment(sql);
        if (rewriter.shapes().trusts(*shape, rewriter.context_key(asked))) analysed = shape->shape;
    }
    for (auto& name : rewriter.names_to_resolve(analysed))
        if (!schema_of_.contains(name)) names.push_back(std::move(name));
    return names;
}

void StatementGuard::remember_lookup(const std::string& name, std::optional<std::string> schema) {
    schema_of_[name] = std::move(schema);
}

void StatementGuard::apply(const std::vector<parser::SessionEffect>& effects) {
    using Kind = parser::SessionEffect::Kind;
    for (const auto& effect : effects) {
        switch (effect.kind) {
            case Kind::SetSearchPath:
                if (effect.local && !search_path_local_) {
                    search_path_before_local_ = search_path_;
                    search_path_local_ = true;
                }
                if (!effect.local) search_path_set_in_transaction_ = true;
                set_search_path(effect.value);
                break;
            case Kind::ResetSearchPath:
            case Kind::SearchPathUnknown:
                search_path_set_in_transaction_ = true;
                set_search_path(std::nullopt);
                break;
            case Kind::SetChecksEnabled:
                if (effect.local) {
                    checks_enabled_local_ = effect.value == "on";
                } else {
                    if (!checks_before_transaction_) checks_before_transaction_ = checks_enabled_;
                    checks_enabled_ = effect.value == "on";
                    checks_enabled_local_.reset();
                }
                break;
            case Kind::ResetChecksEnabled:
                if (!checks_before_transaction_) checks_before_transaction_ = checks_enabled_;
                checks_enabled_ = true;
                checks_enabled_local_.reset();
                break;
            case Kind::ResetAll:
                sql_prepared_.clear();  // DISCARD ALL also deallocates every prepared statement
                // A pooler resets a server connection so before handing it to another client
                // (pgbouncer's server_reset_query): what the last client read is not the next one's.
                if (read_set_) read_set_->clear();
                checks_enabled_ = true;
                checks_enabled_local_.reset();
                set_search_path(std::nullopt);
                break;
        }
    }
}

void StatementGuard::on_parameter_status(std::string_view name, std::string_view value) {
    // Reported at startup and after each change; "ISO, MDY", "ISO, DMY": the output style first.
    if (name == "DateStyle") value_settings_.iso_dates = value.starts_with("ISO");
    if (name == "standard_conforming_strings") standard_strings_ = value != "off";
    if (name == "client_encoding") {
        // PostgreSQL's client-only encodings: the second byte of a multibyte character can be
        // an ASCII one (a backslash, a letter). The server converts the string before reading
        // it; staleguard's parser reads the bytes as they come.
        constexpr std::string_view unsafe[] = {"BIG5", "GB18030", "GBK", "JOHAB", "SJIS", "SHIFT_JIS_2004", "UHC"};
        const bool is_unsafe = std::find(std::begin(unsafe), std::end(unsafe), value) != std::end(unsafe);
        client_encoding_unsafe_ = is_unsafe ? std::optional<std::string>(value) : std::nullopt;
    }
}

template <typename Plan>
bool StatementGuard::misread_by_parser(const parser::Rewriter& rewriter, std::string_view sql, Plan& plan) const {
    std::string why;
    std::string hint;
    if (client_encoding_unsafe_ &&
        std::any_of(sql.begin(), sql.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        why = "in client_encoding " + *client_encoding_unsafe_ +
              ": the bytes of its multibyte characters can be ASCII characters such as \\, which staleguard's "
              "parser would misread";
        hint = "Use client_encoding UTF8 (PostgreSQL converts to and from the server's encoding)";
    } else if (!standard_strings_ && parser::reads_differently_without_standard_strings(sql)) {
        why = "while standard_conforming_strings is off: PostgreSQL reads the backslashes in its '...' literals as "
              "escapes, staleguard's parser does not";
        hint = "Write such literals as E'...', or SET standard_conforming_strings = on (PostgreSQL's default)";
    } else {
        return false;
    }
    // Nothing protected in sight (nor an EXECUTE of a checked statement): nothing to misread.
    if (!rewriter.may_need_rewrite(sql) && sql_prepared_.empty()) return false;
    if (rewriter.rules().unanalysable == rules::UnanalysablePolicy::Reject) {
        plan.sql = std::string(kServerSideFailure);
        plan.replacement_error =
            unanalysable_error("staleguard cannot analyse a statement that may touch a protected table " + why, hint);
    }
    return true;
}

namespace {

// A command tag of DDL that can change which table a bare name resolves to: a table, view or
// schema created, dropped or altered (renamed, moved to another schema) — say a temporary table
// that shadowed a protected one, dropped again. (CREATE TABLE AS answers SELECT: a shadow made so
// is treated as the protected table until its first write fails on the missing version column.)
bool changes_relations(std::string_view tag) {
    for (std::string_view verb : {"CREATE ", "DROP ", "ALTER "}) {
        if (!tag.starts_with(verb)) continue;
        const std::string_view object = tag.substr(verb.size());
        for (std::string_view kind : {"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE", "SCHEMA"})
            if (object == kind) return true;
    }
    // Temporary tables also go with DISCARD TEMP (DISCARD ALL resets everything anyway).
    return tag == "IMPORT FOREIGN SCHEMA" || tag == "DISCARD TEMP";
}

}  // namespace

void StatementGuard::on_command_complete(std::string_view tag) {
    journal_.on_command_complete(tag, read_set_.get());
    if (changes_relations(tag)) {
        forget_schemas();
        relations_changed_in_transaction_ = true;
    }
    // ROLLBACK and ROLLBACK TO SAVEPOINT (a COMMIT of a failed block answers ROLLBACK too).
    if (tag == "ROLLBACK") undo_settings_of_rolled_back_transaction();
}

void StatementGuard::undo_settings_of_rolled_back_transaction() {
    if (checks_before_transaction_) checks_enabled_ = checks_enabled_ || *checks_before_transaction_;
    if (search_path_set_in_transaction_) set_search_path(std::nullopt);
    if (relations_changed_in_transaction_) forget_schemas();
}

void StatementGuard::on_ready_for_query(wire::TransactionStatus status) {
    const bool failed = journal_.error_since_ready();
    journal_.on_ready_for_query(status, read_set_.get());
    if (status != wire::TransactionStatus::Idle) return;
    checks_enabled_local_.reset();
    if (search_path_local_) {
        set_search_path(search_path_before_local_);
        search_path_local_ = false;
    }
    // Idle after an error: the implicit transaction (a query string, a Sync) was rolled back.
    if (failed) undo_settings_of_rolled_back_transaction();
    checks_before_transaction_.reset();
    blind_written_.clear();
    search_path_set_in_transaction_ = false;
    // A temporary table created ON COMMIT DROP is gone once its transaction ends.
    if (relations_changed_in_transaction_) forget_schemas();
    relations_changed_in_transaction_ = false;
    // Portals live no longer than their transaction.
    portals_.clear();
}

std::optional<StatementGuard::CheckTemplate> StatementGuard::usable_check(
    const parser::Rewriter& rewriter, const parser::StatementRewrite& statement) const {
    // PREPARE's checks belong to each EXECUTE, not to the PREPARE itself.
    if (!statement.prepared_name.empty()) return std::nullopt;
    return check_template(rewriter, statement);
}

std::optional<StatementGuard::CheckTemplate> StatementGuard::check_template(
    const parser::Rewriter& rewriter, const parser::StatementRewrite& statement) const {
    // One CommandComplete reports one row count: a statement that writes several protected
    // tables (data-modifying CTEs) cannot be checked by it.
    if (statement.checks.size() != 1) return std::nullopt;
    const auto& stale = statement.checks.front();
    if (!stale.rule || stale.expected_rows == 0) return std::nullopt;
    CheckTemplate out;
    out.check.table = stale.rule->table.to_string();
    out.check.key_columns = fmt::format("{}", fmt::join(stale.rule->key, ", "));
    out.check.key_values = fmt::format("{}", fmt::join(stale.key_values, ", "));
    out.check.expected_version = stale.version_value;
    out.check.expected_rows = stale.expected_rows;
    out.check.is_delete = stale.is_delete;
    out.check.sqlstate = rewriter.rules().sqlstate;
    return out;
}

const parser::LiteralTemplate* StatementGuard::shape_of(std::string_view sql) {
    if (shape_sql_ != sql) {
        shape_sql_.assign(sql);
        shape_ = parser::make_literal_template(sql);
    }
    return shape_ ? &*shape_ : nullptr;
}

parser::TextPlan StatementGuard::plan_text(const parser::Rewriter& rewriter, std::string_view sql,
                                           const parser::RewriteContext& context) {
    const auto plan_as_written = [&](std::string_view text, const parser::SchemaResolver& resolve) {
        parser::TextPlan plan;
        parser::RewriteContext asked = context;
        asked.resolve_schema = resolve;
        plan.rewrite = rewriter.rewrite(text, asked);
        if (!rewriter.tracker().active() || plan.rewrite.outcome == parser::RewriteResult::Outcome::Rejected)
            return plan;
        // Only a one-statement string is planned here; plan_query tracks the statements of others.
        if (plan.rewrite.statements.size() == 1) {
            if (plan.rewrite.statements.front().prepared_name.empty())
                plan.tracked_text = plan.rewrite.statements.front().sql;
        } else if (plan.rewrite.statements.empty()) {
            if (auto split = parser::split_statements(text); split && split->size() == 1)
                plan.tracked_text = split->front();
        }
        if (!plan.tracked_text.empty()) plan.tracked = rewriter.tracker().plan(plan.tracked_text, resolve);
        return plan;
    };
    return rewriter.shapes().plan(sql, shape_of(sql), rewriter.context_key(context),
                                  context.resolve_schema, plan_as_written);
}

std::shared_ptr<const parser::TrackedStatement> StatementGuard::track(const parser::Rewriter& rewriter,
                                                                      std::string_view statement,
                                                                      std::shared_ptr<const parser::TrackedStatement> planned) {
    auto plan = planned ? std::move(planned)
                        : rewriter.tracker().plan(statement, [this, &rewriter](std::string_view name) { return resolve(rewriter, name); });
    using Kind = parser::TrackedStatement::Kind;
    if (plan->kind == Kind::Untracked) return nullptr;
    // Roles that bypass a table are neither tracked nor checked on it.
    if (plan->kind == Kind::KeyedWrite) {
        if (plan->keyed.target.rule == nullptr || plan->keyed.target.rule->bypasses(role_)) return nullptr;
    } else {
        for (const auto& table : plan->tracking.tables)
            if (table.rule == nullptr || table.rule->bypasses(role_)) return nullptr;
    }
    return plan;
}

namespace {

HiddenLayout layout_of(const parser::ReadTracking& tracking) {
    HiddenLayout layout;
    for (const auto& table : tracking.tables) layout.groups.push_back(HiddenColumnGroup{table.name, table.key_count});
    return layout;
}

// The rows of a tracked read, or of an unchecked write's hidden RETURNING.
std::shared_ptr<const TrackedResult> tracked_result(const parser::TrackedStatement& plan) {
    auto result = std::make_shared<TrackedResult>();
    result->layout = layout_of(plan.tracking);
    result->client_sees_rows = plan.tracking.client_sees_rows;
    result->is_write = plan.kind == parser::TrackedStatement::Kind::UnkeyedWrite;
    result->is_delete = result->is_write && plan.tracking.rows_deleted;
    return result;
}

// A checked write of one read row whose version is a counter staleguard bumps: if it changes the
// row, the version it leaves is the one read + 1 (its check pinned where the bump started), so it
// can go without its hidden RETURNING, which costs the server more than the check and the bump
// together. nullopt when that does not hold or the RETURNING has the client's columns too.
std::optional<ReturnedRow> written_without_returning(const parser::TrackedStatement& plan,
                                                     const TrackedResult& tracked) {
    const rules::TableRule& rule = *plan.keyed.target.rule;
    const std::string& added = plan.tracking.added_returning;
    if (added.empty() || !plan.keyed.sql_after_slot.ends_with(added) || rule.kind != rules::VersionKind::Counter ||
        rule.bumped_by != rules::BumpedBy::Staleguard || plan.keyed.is_delete || plan.keyed.assigns_key ||
        !tracked.check || tracked.check->targeted_rows != 1 || tracked.check->seen.size() != 1 ||
        !tracked.moved_from.empty()) {
        return std::nullopt;
    }
    const SeenRow& row = tracked.check->seen.front();
    const char* const end = row.version.data() + row.version.size();
    std::int64_t version = 0;
    const auto [stop, error] = std::from_chars(row.version.data(), end, version);
    if (error != std::errc{} || stop != end || version == std::numeric_limits<std::int64_t>::max()) return std::nullopt;
    return ReturnedRow{row.keys, std::to_string(version + 1)};
}

// Key tuples whose values are all known; "$n" in a template is taken from the Bind.
std::optional<std::vector<std::vector<std::string>>> literal_tuples(const parser::KeyedTarget& target) {
    for (const auto& tuple : target.key_tuples)
        for (const auto& value : tuple)
            if (!value.empty() && value.front() == '$') return std::nullopt;
    return target.key_tuples;
}

}  // namespace

StatementGuard::KeyedOutcome StatementGuard::check_keyed(
    const parser::Rewriter& rewriter, const parser::TrackedStatement& plan,
    const std::optional<std::vector<std::vector<std::string>>>& tuples, bool checks) {
    KeyedOutcome outcome;
    const rules::TableRule& rule = *plan.keyed.target.rule;
    const std::string& table = plan.keyed.target.table_name;
    auto tracked = std::make_shared<TrackedResult>();
    tracked->layout = layout_of(plan.tracking);
    tracked->client_sees_rows = plan.tracking.client_sees_rows;
    tracked->is_write = true;
    tracked->is_delete = plan.keyed.is_delete;
    if (checks) {
        std::vector<SeenRow> seen;
        std::vector<std::vector<std::string>> unread;
        if (tuples) {
            for (const auto& tuple : *tuples) {
                std::vector<std::string_view> keys(tuple.begin(), tuple.end());
                std::optional<std::string_view> version;
                if (read_set_ && keys.size() == rule.key.size()) version = read_set_->seen(table, keys);
                if (version) seen.push_back(SeenRow{tuple, std::string(*version)});
                else unread.push_back(tuple);
            }
        }
        if (rule.unread == rules::UnreadPolicy::Reject && (!tuples || !unread.empty())) {
            if (!tuples) unread.push_back({"?"});
            outcome.error = unread_write_error(rule, rewriter.rules().sqlstate, unread).encode();
        }
        for (const SeenRow& row : seen) {
            outcome.seen.push_back(parser::SeenVersion{parser::encoded_key(row.keys), row.version});
        }
        if (!seen.empty()) {
            tracked->check = TrackCheck{plan.rules, &rule, rewriter.rules().sqlstate, plan.keyed.is_delete,
                                        std::move(seen), tuples->size(), plan.keyed.assigns_key};
        }
    }
    if (plan.keyed.assigns_key && tuples) tracked->moved_from = *tuples;
    outcome.tracked = std::move(tracked);
    return outcome;
}

QueryPlan StatementGuard::plan_query(const parser::Rewriter& rewriter, std::string_view sql) {
    // A simple Query destroys the unnamed statement and portal.
    statements_.erase("");
    portals_.erase("");
    QueryPlan plan;
    if (rewriter.rules().empty()) return plan;
    if (misread_by_parser(rewriter, sql, plan)) {
        if (plan.replacement_error) plan.kind = QueryPlan::Kind::Replace;
        return plan;
    }
    if (auto tracked = tracked_of_execute(sql)) {
        // A statement prepared with Parse and run by SQL EXECUTE (they share one namespace):
        // its rows carry the hidden columns its Parse added.
        plan.kind = QueryPlan::Kind::Replace;
        plan.sql = std::string(sql);
        plan.tracked = std::move(tracked);
        return plan;
    }
    if (auto check = check_of_execute(sql)) {
        plan.kind = QueryPlan::Kind::Translate;
        plan.statements.push_back(StatementPlan{std::string(sql), std::move(check), 0, nullptr});
        return plan;
    }
    if (!rewriter.may_need_rewrite(sql)) return plan;
    const bool off_comment = has_off_comment(sql);
    auto rewrite_context = context(rewriter);
    if (off_comment) rewrite_context.checks_enabled = false;
    auto text_plan = plan_text(rewriter, sql, rewrite_context);
    auto& result = text_plan.rewrite;
    for (const auto& statement : result.statements) {
        apply(statement.effects);
        if (statement.prepared_name.empty()) continue;
        if (auto prepared = check_template(rewriter, statement)) sql_prepared_[statement.prepared_name] = std::move(*prepared);
        else sql_prepared_.erase(statement.prepared_name);
    }
    if (result.outcome == parser::RewriteResult::Outcome::Rejected) return refused_query(rejection_error(result));
    // The statements as the rewriter left them; a string it did not need to parse (no writes)
    // is split here for track mode's reads.
    std::vector<std::string_view> texts;
    for (const auto& statement : result.statements) texts.emplace_back(statement.sql);
    if (result.statements.empty() && rewriter.tracker().active()) {
        if (text_plan.tracked) {
            texts.emplace_back(text_plan.tracked_text);
        } else if (auto split = parser::split_statements(sql)) {
            texts = std::move(*split);
        }
    }
    // A statement can need a check without a change of text: in client mode, an UPDATE that
    // assigns the version itself is sent as written but its row count still decides.
    bool any_check = false;
    bool any_tracked = false;
    bool any_tracked_write = false;
    std::size_t cursor = 0;
    const bool checks = checks_enabled() && !off_comment;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        const parser::StatementRewrite* statement = i < result.statements.size() ? &result.statements[i] : nullptr;
        std::optional<CheckTemplate> check = statement ? usable_check(rewriter, *statement) : std::nullopt;
        bool rewritten = statement && statement->rewritten;
        std::string text(texts[i]);
        std::shared_ptr<const TrackedResult> tracked;
        std::shared_ptr<const parser::TrackedStatement> tracking;
        if (!check && rewriter.tracker().active() && (!statement || statement->prepared_name.empty())) {
            tracking = track(rewriter, text, texts.size() == 1 ? text_plan.tracked : nullptr);
            if (tracking) {
                if (tracking->kind != parser::TrackedStatement::Kind::KeyedWrite) {
                    text = tracking->tracking.sql;
                    tracked = tracked_result(*tracking);
                } else {
                    auto keyed = check_keyed(rewriter, *tracking, literal_tuples(tracking->keyed.target), checks);
                    if (keyed.error) return refused_query(std::move(*keyed.error));
                    std::string_view after_slot = tracking->keyed.sql_after_slot;
                    if (auto written = written_without_returning(*tracking, *keyed.tracked)) {
                        after_slot.remove_suffix(tracking->tracking.added_returning.size());
                        auto lean = std::make_shared<TrackedResult>(*keyed.tracked);
                        lean->written_if_one_row = std::move(written);
                        keyed.tracked = std::move(lean);
                    }
                    text = tracking->keyed.sql_before_slot +
                           parser::literal_version_predicate(*tracking->keyed.target.rule,
                                                             tracking->keyed.qualifier, keyed.seen,
                                                             tracking->keyed.target.key_tuples.size() == 1 &&
                                                                 !tracking->keyed.target.from_array_parameter) +
                           std::string(after_slot);
                    tracked = std::move(keyed.tracked);
                    any_tracked_write = true;
                }
                rewritten = true;
                any_tracked = true;
            }
        }
        if (statement) note_blind_writes(*statement, tracking ? tracking->written_table() : std::string_view{});
        any_check = any_check || check.has_value();
        std::optional<std::size_t> offset;
        if (!rewritten) {
            if (auto found = sql.find(text, cursor); found != std::string_view::npos) {
                offset = parser::character_count(sql.substr(0, found));
                cursor = found + text.size();
            }
        }
        plan.statements.push_back(StatementPlan{std::move(text), check ? std::optional<WriteCheck>(check->check) : std::nullopt,
                                                offset, std::move(tracked)});
    }
    if (any_tracked && !any_check && !any_tracked_write && plan.statements.size() == 1) {
        // One tracked read: a Query still, whose rows lose their hidden columns on the way back.
        plan.kind = QueryPlan::Kind::Replace;
        plan.sql = std::move(plan.statements.front().sql);
        plan.tracked = std::move(plan.statements.front().tracked);
        plan.statements.clear();
    } else if ((any_check || any_tracked) &&
               std::any_of(texts.begin(), texts.end(), [](std::string_view text) { return parser::copies_from_client(text); })) {
        // Translated, the string's later statements would reach the server while it waits for
        // the copy's data. Sent as one Query instead, its reads go untracked (safe: nothing is
        // learnt) and its writes are bumped; a write that needs its check follows `unanalysable`.
        plan.statements.clear();
        if ((any_check || any_tracked_write) && checks &&
            rewriter.rules().unanalysable == rules::UnanalysablePolicy::Reject) {
            return refused_query(unanalysable_error(
                "staleguard cannot check the writes of a query string that also holds COPY ... FROM STDIN",
                "Send the COPY as a query of its own"));
        }
        if (result.outcome == parser::RewriteResult::Outcome::Rewritten) {
            plan.kind = QueryPlan::Kind::Replace;
            plan.sql = std::move(result.sql);
        }
    } else if (any_check || any_tracked) {
        plan.kind = QueryPlan::Kind::Translate;
    } else if (result.outcome == parser::RewriteResult::Outcome::Rewritten) {
        plan.kind = QueryPlan::Kind::Replace;
        plan.sql = std::move(result.sql);
        plan.statements.clear();
    } else {
        plan.statements.clear();
    }
    return plan;
}

ParsePlan StatementGuard::plan_parse(const parser::Rewriter& rewriter, const wire::Parse& parse) {
    const std::string name(parse.statement);
    statements_.erase(name);
    ParsePlan plan;
    if (rewriter.rules().empty()) return plan;
    if (misread_by_parser(rewriter, parse.query, plan)) return plan;
    if (auto tracked = tracked_of_execute(parse.query)) {
        statements_[name].tracked = std::move(tracked);
        plan.tracked = true;
        return plan;
    }
    if (auto check = check_of_execute(parse.query)) {
        // The statement's checks are fixed now: EXECUTE's arguments are constants (or unknown).
        statements_[name].check = CheckTemplate{std::move(*check)};
        return plan;
    }
    if (!rewriter.may_need_rewrite(parse.query)) return plan;
    const bool off_comment = has_off_comment(parse.query);
    auto rewrite_context = context(rewriter);
    if (off_comment) rewrite_context.checks_enabled = false;
    auto result = rewriter.rewrite(parse.query, rewrite_context);
    for (const auto& statement : result.statements) apply(statement.effects);
    if (result.outcome == parser::RewriteResult::Outcome::Rejected) {
        plan.sql = std::string(kServerSideFailure);
        plan.replacement_error = rejection_error(result);
        return plan;
    }
    if (result.outcome == parser::RewriteResult::Outcome::Rewritten) plan.sql = std::move(result.sql);
    if (result.statements.size() == 1) {
        if (auto check = usable_check(rewriter, result.statements.front())) {
            PreparedStatement& prepared = statements_[name];
            prepared.check = std::move(*check);
            *prepared.parameter_types = parse.parameter_types;
            return plan;
        }
    }
    if (!rewriter.tracker().active() || result.statements.size() > 1) return plan;
    std::string_view text = parse.query;
    if (result.statements.size() == 1) {
        if (!result.statements.front().prepared_name.empty()) return plan;
        text = result.statements.front().sql;
    }
    auto tracking = track(rewriter, text);
    if (result.statements.size() == 1)
        note_blind_writes(result.statements.front(), tracking ? tracking->written_table() : std::string_view{});
    if (!tracking) return plan;
    PreparedStatement& prepared = statements_[name];
    plan.tracked = true;
    if (tracking->kind != parser::TrackedStatement::Kind::KeyedWrite) {
        plan.sql = tracking->tracking.sql;
        prepared.tracked = tracked_result(*tracking);
        return plan;
    }
    // A keyed write: the seen rows' keys, and their (key, version) pairs, arrive as two text[] parameters after the
    // client's own, filled at each Bind from the ReadSet.
    const std::size_t base = std::max<std::size_t>(parse.parameter_types.size(),
                                                   static_cast<std::size_t>(tracking->highest_parameter));
    const rules::TableRule& rule = *tracking->keyed.target.rule;
    const std::string keys = "$" + std::to_string(base + 1) + "::pg_catalog.text[]";
    const std::string pairs = "$" + std::to_string(base + 2) + "::pg_catalog.text[]";
    plan.sql = tracking->keyed.sql_before_slot +
               parser::version_predicate(rule, tracking->keyed.qualifier, keys, pairs) +
               tracking->keyed.sql_after_slot;
    prepared.keyed = std::move(tracking);
    prepared.client_parameters = base;
    *prepared.parameter_types = parse.parameter_types;
    prepared.checks_enabled = !off_comment;
    return plan;
}

namespace {

// The elements of an IN-list template "(1, $2, 'a, b')": split at commas outside quotes.
std::vector<std::string_view> split_in_list(std::string_view list) {
    std::vector<std::string_view> elements;
    if (list.size() < 2 || list.front() != '(' || list.back() != ')') return elements;
    list = list.substr(1, list.size() - 2);
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= list.size(); ++i) {
        if (i < list.size() && list[i] == '\'') quoted = !quoted;
        if (i == list.size() || (list[i] == ',' && !quoted)) {
            elements.push_back(trim(list.substr(start, i - start)));
            start = i + 1;
        }
    }
    return elements;
}

}  // namespace

std::shared_ptr<const TrackedResult> StatementGuard::tracked_of_execute(std::string_view sql) const {
    if (statements_.empty()) return nullptr;
    auto call = parser::execute_call_of(sql);
    if (!call) return nullptr;
    auto statement = statements_.find(call->name);
    return statement == statements_.end() ? nullptr : statement->second.tracked;
}

std::optional<WriteCheck> StatementGuard::check_of_execute(std::string_view sql) const {
    if (sql_prepared_.empty()) return std::nullopt;
    auto call = parser::execute_call_of(sql);
    if (!call) return std::nullopt;
    auto prepared = sql_prepared_.find(call->name);
    if (prepared == sql_prepared_.end()) return std::nullopt;
    WriteCheck check = prepared->second.check;
    auto argument = [&](std::size_t number) -> std::optional<std::string> {
        if (number == 0 || number > call->arguments.size()) return std::nullopt;
        return call->arguments[number - 1].value_or("?");
    };
    check.key_values = substitute(check.key_values, argument);
    check.expected_version = substitute(check.expected_version, argument);
    return check;
}

BindPlan StatementGuard::on_bind(const parser::Rewriter& rewriter, const wire::Frame& frame, const wire::Bind& bind) {
    BindPlan out;
    const std::string portal(bind.portal);
    portals_.erase(portal);
    auto statement = statements_.find(std::string(bind.statement));
    if (statement == statements_.end()) return out;
    const PreparedStatement& prepared = statement->second;
    if (prepared.check) {
        WriteCheck check = prepared.check->check;
        const auto& types = *prepared.parameter_types;
        const bool single_key = check.key_columns.find(',') == std::string::npos;
        if (single_key && check.expected_rows > 1 && check.key_values.find('$') != std::string::npos) {
            // `id IN ($1, $2)` bound to equal values updates one row: count the distinct values bound.
            std::set<std::string> values;
            for (auto element : split_in_list(check.key_values)) {
                values.insert(substitute_parameters(element, bind, types, value_settings_));
            }
            if (!values.empty()) check.expected_rows = values.size();
        }
        check.key_values = substitute_parameters(check.key_values, bind, types, value_settings_);
        check.expected_version = substitute_parameters(check.expected_version, bind, types, value_settings_);
        portals_[portal].check = std::move(check);
        return out;
    }
    if (prepared.tracked) {
        portals_[portal].tracked = prepared.tracked;
        // N result-format codes name the client's N columns: the hidden ones need theirs.
        if (bind.result_formats.size() > 1) {
            if (auto extended = extend_bind_result_formats(frame, prepared.tracked->layout.hidden_count())) out.bind = std::move(extended).value();
        }
        return out;
    }
    if (!prepared.keyed) return out;
    const parser::TrackedStatement& plan = *prepared.keyed;
    const parser::KeyedTarget& target = plan.keyed.target;
    // The rows this Bind targets: "$n" in the key templates from its parameters. A key whose
    // text is not known for sure (binary, in a type not decoded) leaves the rows unknown.
    const std::vector<std::uint32_t>& types = *prepared.parameter_types;
    std::optional<std::vector<std::vector<std::string>>> tuples;
    std::set<std::vector<std::string>> added;  // arrays of tens of thousands of keys: no scans
    const auto add_row = [&](const std::vector<std::string>& tuple, const std::string* slot, const std::string* element) {
        std::vector<std::string> row;
        for (const auto& value : tuple) {
            if (slot && value == *slot) {
                row.push_back(*element);
                continue;
            }
            auto text = substitute_bound_parameters(value, bind, types, value_settings_);
            if (!text) return false;
            row.push_back(std::move(*text));
        }
        if (added.insert(row).second) tuples->push_back(std::move(row));
        return true;
    };
    if (bind.parameters.size() == prepared.client_parameters) {
        tuples.emplace();
        for (const auto& tuple : target.key_tuples) {
            bool known = true;
            if (target.from_array_parameter) {
                const std::size_t index = static_cast<std::size_t>(target.array_parameter) - 1;
                std::optional<std::vector<std::string>> elements;
                if (index < bind.parameters.size() && bind.parameters[index])
                    elements = array_parameter_elements(*bind.parameters[index], parameter_format(bind, index),
                                                        value_settings_);
                const std::string slot = "$" + std::to_string(target.array_parameter);
                known = elements.has_value();
                for (std::size_t i = 0; known && i < elements->size(); ++i) known = add_row(tuple, &slot, &(*elements)[i]);
            } else {
                known = add_row(tuple, nullptr, nullptr);
            }
            if (!known) {
                tuples.reset();
                break;
            }
        }
    }
    auto keyed = check_keyed(rewriter, plan, tuples, checks_enabled() && prepared.checks_enabled);
    if (keyed.error) {
        out.replacement_error = std::move(keyed.error);
        return out;
    }
    // The client's Bind with the seen versions appended as text parameters.
    wire::Bind extended = bind;
    std::vector<std::string> keys;
    std::vector<std::string> pairs;
    for (const auto& row : keyed.seen) {
        keys.push_back(row.key);
        pairs.push_back(parser::seen_pair(row));
    }
    const std::vector<std::string> values{parser::text_array_value(keys), parser::text_array_value(pairs)};
    // One format code applies to every parameter: a binary one must now be spelt out per
    // parameter so that the appended text ones can say 0.
    auto& formats = extended.parameter_formats;
    if (formats.size() == 1 && formats[0] != 0) formats.assign(bind.parameters.size(), formats[0]);
    for (const auto& value : values) {
        extended.parameters.emplace_back(wire::Bytes(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
        if (formats.size() > 1 || (formats.size() == bind.parameters.size() && !formats.empty() && formats[0] != 0))
            formats.push_back(0);
    }
    if (extended.result_formats.size() > 1) {
        for (std::size_t i = 0; i < keyed.tracked->layout.hidden_count(); ++i) extended.result_formats.push_back(0);
    }
    out.bind = extended.encode();
    portals_[portal].tracked = std::move(keyed.tracked);
    return out;
}

ExecutePlan StatementGuard::on_execute(const wire::Execute& execute) const {
    auto portal = portals_.find(std::string(execute.portal));
    if (portal == portals_.end()) return {};
    return ExecutePlan{portal->second.check, portal->second.tracked};
}

DescribePlan StatementGuard::on_describe(const wire::Describe& describe) const {
    DescribePlan out;
    if (describe.kind == wire::ObjectKind::Portal) {
        if (auto portal = portals_.find(std::string(describe.name)); portal != portals_.end()) out.tracked = portal->second.tracked;
        return out;
    }
    auto statement = statements_.find(std::string(describe.name));
    if (statement == statements_.end()) return out;
    if (statement->second.tracked) out.tracked = statement->second.tracked;
    if (statement->second.keyed) {
        const auto& plan = *statement->second.keyed;
        auto tracked = std::make_shared<TrackedResult>();
        tracked->layout = layout_of(plan.tracking);
        tracked->client_sees_rows = plan.tracking.client_sees_rows;
        out.tracked = std::move(tracked);
        out.visible_parameters = statement->second.client_parameters;
    }
    const ParameterTypes& declared = *statement->second.parameter_types;
    const bool some_unspecified = declared.empty() || std::find(declared.begin(), declared.end(), 0u) != declared.end();
    if ((statement->second.keyed || statement->second.check) && some_unspecified)
        out.parameter_types_to_learn = statement->second.parameter_types;
    return out;
}

void StatementGuard::note_statement_change(std::string_view name, std::uint64_t correlation) {
    // Answers always come; the bound only keeps a confused peer from growing the list forever.
    constexpr std::size_t max_unanswered = 65536;
    if (unanswered_statement_changes_.size() >= max_unanswered) unanswered_statement_changes_.pop_front();
    StatementChange change{correlation, std::string(name), std::nullopt};
    if (auto found = statements_.find(change.name); found != statements_.end()) change.before = found->second;
    unanswered_statement_changes_.push_back(std::move(change));
}

void StatementGuard::on_statement_change_done(std::uint64_t correlation) {
    std::erase_if(unanswered_statement_changes_,
                  [correlation](const StatementChange& change) { return change.correlation == correlation; });
}

void StatementGuard::undo_statement_changes(const std::vector<std::uint64_t>& correlations) {
    auto& changes = unanswered_statement_changes_;
    // Newest first, each undone change removed at once: a later change of the same name that
    // stands was made on top of this one, and now starts from what this one started from.
    for (std::size_t i = changes.size(); i-- > 0;) {
        if (std::find(correlations.begin(), correlations.end(), changes[i].correlation) == correlations.end()) continue;
        const auto later = std::find_if(changes.begin() + static_cast<std::ptrdiff_t>(i) + 1, changes.end(),
                                        [&](const StatementChange& change) { return change.name == changes[i].name; });
        if (later != changes.end()) {
            later->before = std::move(changes[i].before);
        } else if (changes[i].before) {
            statements_[changes[i].name] = std::move(*changes[i].before);
        } else {
            statements_.erase(changes[i].name);
        }
        changes.erase(changes.begin() + static_cast<std::ptrdiff_t>(i));
    }
}

void StatementGuard::on_close(const wire::Close& close) {
    if (close.kind == wire::ObjectKind::Statement) statements_.erase(std::string(close.name));
    else portals_.erase(std::string(close.name));
}

void StatementGuard::remember_read(const HiddenLayout& layout, const std::vector<TrackedRow>& rows) {
    if (rows.empty()) return;
    if (!read_set_) read_set_ = std::make_unique<ReadSet>(max_tracked_rows_);
    for (const TrackedRow& row : rows) {
        if (row.group >= layout.groups.size()) continue;
        const std::string& table = layout.groups[row.group].table;
        if (!blind_written_.empty() &&
            std::find(blind_written_.begin(), blind_written_.end(), table) != blind_written_.end()) {
            journal_.record(table, row.keys, read_set_->seen(table, row.keys));
        }
        read_set_->remember(table, row.keys, row.version);
    }
}

void StatementGuard::note_blind_writes(const parser::StatementRewrite& statement, std::string_view seen_target) {
    for (const rules::QualifiedName& table : statement.protected_tables) {
        std::string name = table.to_string();
        if (name == seen_target) continue;  // its hidden RETURNING shows the rows
        if (std::find(blind_written_.begin(), blind_written_.end(), name) == blind_written_.end())
            blind_written_.push_back(std::move(name));
    }
}

void StatementGuard::apply_write(const TrackedResult& tracked, const std::vector<ReturnedRow>& rows) {
    if (rows.empty() || tracked.layout.groups.empty()) return;
    const std::string& table = tracked.layout.groups.front().table;
    if (tracked.is_delete && !read_set_) return;
    if (!read_set_) read_set_ = std::make_unique<ReadSet>(max_tracked_rows_);
    // Each change is journaled first: the transaction may yet roll back.
    auto change = [&](const std::vector<std::string>& key_values, std::optional<std::string_view> version) {
        std::vector<std::string_view> keys(key_values.begin(), key_values.end());
        journal_.record(table, keys, read_set_->seen(table, keys));
        if (version) read_set_->remember(table, keys, *version);
        else read_set_->forget(table, keys);
    };
    if (tracked.is_delete) {
        for (const ReturnedRow& row : rows) change(row.keys, std::nullopt);
        return;
    }
    for (const auto& tuple : tracked.moved_from) change(tuple, std::nullopt);
    for (const ReturnedRow& row : rows) change(row.keys, row.version);
}

}  // namespace staleguard::session
