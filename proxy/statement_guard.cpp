// Statement policy of one session: planning rewritten statements, checks and the settings they follow.
#include "proxy/statement_guard.hpp"

#include <algorithm>

#include "parser/execute_call.hpp"
#include "parser/position_map.hpp"
#include <cctype>

namespace staleguard::session {

namespace {

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) out += separator;
        out += part;
    }
    return out;
}

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
    std::string out(entry);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
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

// Type OIDs from PostgreSQL's pg_type.dat whose binary form is easy to show.
constexpr std::uint32_t kInt8Oid = 20;
constexpr std::uint32_t kInt2Oid = 21;
constexpr std::uint32_t kInt4Oid = 23;
constexpr std::uint32_t kTextOid = 25;
constexpr std::uint32_t kVarcharOid = 1043;
constexpr std::uint32_t kUuidOid = 2950;

std::string binary_parameter_text(wire::Bytes value, std::uint32_t type) {
    auto big_endian = [&] {
        std::uint64_t v = 0;
        for (auto byte : value) v = (v << 8) | byte;
        return v;
    };
    switch (type) {
        case kInt2Oid:
            if (value.size() == 2) return std::to_string(static_cast<std::int16_t>(big_endian()));
            break;
        case kInt4Oid:
            if (value.size() == 4) return std::to_string(static_cast<std::int32_t>(big_endian()));
            break;
        case kInt8Oid:
            if (value.size() == 8) return std::to_string(static_cast<std::int64_t>(big_endian()));
            break;
        case kTextOid:
        case kVarcharOid:
            return std::string(reinterpret_cast<const char*>(value.data()), value.size());
        case kUuidOid:
            if (value.size() == 16) {
                static constexpr char digits[] = "0123456789abcdef";
                std::string out;
                for (std::size_t i = 0; i < 16; ++i) {
                    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
                    out += digits[value[i] >> 4];
                    out += digits[value[i] & 0xf];
                }
                return out;
            }
            break;
        default:
            break;
    }
    return "?";
}

}  // namespace

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

std::string substitute_parameters(std::string_view text, const wire::Bind& bind,
                                  const std::vector<std::uint32_t>& parameter_types) {
    return substitute(text, [&](std::size_t number) -> std::optional<std::string> {
        if (number == 0 || number > bind.parameters.size()) return std::nullopt;
        const auto& value = bind.parameters[number - 1];
        std::int16_t format = 0;
        if (bind.parameter_formats.size() == 1) format = bind.parameter_formats[0];
        else if (number - 1 < bind.parameter_formats.size()) format = bind.parameter_formats[number - 1];
        if (!value) return std::string("NULL");
        if (format != 0)
            return binary_parameter_text(*value, number - 1 < parameter_types.size() ? parameter_types[number - 1] : 0);
        return std::string(reinterpret_cast<const char*>(value->data()), value->size());
    });
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

std::vector<std::string> StatementGuard::names_to_look_up(const parser::Rewriter& rewriter, std::string_view sql) const {
    std::vector<std::string> names;
    if (rewriter.rules().empty() || !rewriter.may_need_rewrite(sql)) return names;
    for (auto& name : rewriter.names_to_resolve(sql))
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
                set_search_path(effect.value);
                break;
            case Kind::ResetSearchPath:
            case Kind::SearchPathUnknown:
                set_search_path(std::nullopt);
                break;
            case Kind::SetChecksEnabled:
                if (effect.local) {
                    checks_enabled_local_ = effect.value == "on";
                } else {
                    checks_enabled_ = effect.value == "on";
                    checks_enabled_local_.reset();
                }
                break;
            case Kind::ResetChecksEnabled:
                checks_enabled_ = true;
                checks_enabled_local_.reset();
                break;
            case Kind::ResetAll:
                sql_prepared_.clear();  // DISCARD ALL also deallocates every prepared statement
                checks_enabled_ = true;
                checks_enabled_local_.reset();
                set_search_path(std::nullopt);
                break;
        }
    }
}

void StatementGuard::on_ready_for_query(wire::TransactionStatus status) {
    if (status != wire::TransactionStatus::Idle) return;
    checks_enabled_local_.reset();
    if (search_path_local_) {
        set_search_path(search_path_before_local_);
        search_path_local_ = false;
    }
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
    out.check.key_columns = join(stale.rule->key, ", ");
    out.check.key_values = join(stale.key_values, ", ");
    out.check.expected_version = stale.version_value;
    out.check.expected_rows = stale.expected_rows;
    out.check.is_delete = stale.is_delete;
    out.check.sqlstate = rewriter.rules().sqlstate;
    return out;
}

QueryPlan StatementGuard::plan_query(const parser::Rewriter& rewriter, std::string_view sql) {
    // A simple Query destroys the unnamed statement and portal.
    statements_.erase("");
    portals_.erase("");
    QueryPlan plan;
    if (rewriter.rules().empty()) return plan;
    if (auto check = check_of_execute(sql)) {
        plan.kind = QueryPlan::Kind::Translate;
        plan.statements.push_back(StatementPlan{std::string(sql), std::move(check), 0});
        return plan;
    }
    if (!rewriter.may_need_rewrite(sql)) return plan;
    auto result = rewriter.rewrite(sql, context(rewriter));
    for (const auto& statement : result.statements) {
        apply(statement.effects);
        if (statement.prepared_name.empty()) continue;
        if (auto prepared = check_template(rewriter, statement)) sql_prepared_[statement.prepared_name] = std::move(*prepared);
        else sql_prepared_.erase(statement.prepared_name);
    }
    if (result.outcome == parser::RewriteResult::Outcome::Rejected) {
        plan.kind = QueryPlan::Kind::Replace;
        plan.sql = std::string(kServerSideFailure);
        plan.replacement_error = wire::ErrorResponse::make(result.error_sqlstate, result.error_message).encode();
        return plan;
    }
    // A statement can need a check without a change of text: in client mode, an UPDATE that
    // assigns the version itself is sent as written but its row count still decides.
    bool any_check = false;
    std::size_t cursor = 0;
    for (const auto& statement : result.statements) {
        auto check = usable_check(rewriter, statement);
        any_check = any_check || check.has_value();
        std::optional<std::size_t> offset;
        if (!statement.rewritten) {
            if (auto found = sql.find(statement.sql, cursor); found != std::string_view::npos) {
                offset = parser::character_count(sql.substr(0, found));
                cursor = found + statement.sql.size();
            }
        }
        plan.statements.push_back(StatementPlan{
            statement.sql, check ? std::optional<WriteCheck>(check->check) : std::nullopt, offset});
    }
    if (any_check) {
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
    if (auto check = check_of_execute(parse.query)) {
        // The statement's checks are fixed now: EXECUTE's arguments are constants (or unknown).
        statements_[name] = CheckTemplate{std::move(*check), {}};
        return plan;
    }
    if (!rewriter.may_need_rewrite(parse.query)) return plan;
    auto result = rewriter.rewrite(parse.query, context(rewriter));
    for (const auto& statement : result.statements) apply(statement.effects);
    if (result.outcome == parser::RewriteResult::Outcome::Rejected) {
        plan.sql = std::string(kServerSideFailure);
        plan.replacement_error = wire::ErrorResponse::make(result.error_sqlstate, result.error_message).encode();
        return plan;
    }
    if (result.outcome == parser::RewriteResult::Outcome::Rewritten) plan.sql = std::move(result.sql);
    if (result.statements.size() == 1) {
        if (auto check = usable_check(rewriter, result.statements.front())) {
            check->parameter_types = parse.parameter_types;
            statements_[name] = std::move(*check);
        }
    }
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

void StatementGuard::on_bind(const wire::Bind& bind) {
    const std::string portal(bind.portal);
    auto statement = statements_.find(std::string(bind.statement));
    if (statement == statements_.end() || !statement->second) {
        portals_.erase(portal);
        return;
    }
    WriteCheck check = statement->second->check;
    const auto& types = statement->second->parameter_types;
    const bool single_key = check.key_columns.find(',') == std::string::npos;
    if (single_key && check.expected_rows > 1 && check.key_values.find('$') != std::string::npos) {
        // `id IN ($1, $2)` bound to equal values updates one row: count the distinct values bound.
        std::vector<std::string> values;
        for (auto element : split_in_list(check.key_values)) {
            auto value = substitute_parameters(element, bind, types);
            if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(std::move(value));
        }
        if (!values.empty()) check.expected_rows = values.size();
    }
    check.key_values = substitute_parameters(check.key_values, bind, types);
    check.expected_version = substitute_parameters(check.expected_version, bind, types);
    portals_[portal] = std::move(check);
}

std::optional<WriteCheck> StatementGuard::on_execute(const wire::Execute& execute) const {
    auto portal = portals_.find(std::string(execute.portal));
    if (portal == portals_.end()) return std::nullopt;
    return portal->second;
}

void StatementGuard::on_close(const wire::Close& close) {
    if (close.kind == wire::ObjectKind::Statement) statements_.erase(std::string(close.name));
    else portals_.erase(std::string(close.name));
}

}  // namespace staleguard::session
