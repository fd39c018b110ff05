// Rewrites UPDATE/DELETE on protected tables: version bumps in every mode, row-count checks in client mode.
#include "parser/rewrite.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <utility>

#include "parser/ascii_case.hpp"
#include "parser/lru_cache.hpp"
#include "parser/pg_query_handle.hpp"
#include "parser/shape_planner.hpp"
#include "parser/token_prefilter.hpp"
#include "parser/track_planner.hpp"
#include "parser/version_bump.hpp"

namespace staleguard::parser {
namespace {

constexpr std::string_view invalid_setting_sqlstate = "22023";
// Bare names resolve here when the caller gives no resolver.
constexpr std::string_view default_schema = "public";

// Words whose presence means a string may change session state we follow. "schema" catches
// `SET SCHEMA 'x'` (which sets search_path); "u&" catches U&"..." identifiers, which could
// spell a protected name without containing it.
constexpr std::array<std::string_view, 7> session_words = {"search_path", "schema",     "staleguard", "discard",
                                                           "reset",       "set_config", "u&"};

bool is_identifier_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return std::isalnum(byte) != 0 || c == '_' || c == '$' || byte >= 0x80;
}

// Whether `text` has `name` as a whole word (not as part of accounts_archive), ignoring case.
bool mentions_name(std::string_view text, std::string_view name) {
    const std::string needle = ascii_lowered(name);
    for (std::size_t at = find_ignoring_ascii_case(text, needle); at != std::string_view::npos;
         at = find_ignoring_ascii_case(text, needle, at + 1)) {
        const bool starts_word = at == 0 || !is_identifier_char(text[at - 1]);
        const std::size_t end = at + needle.size();
        const bool ends_word = end >= text.size() || !is_identifier_char(text[end]);
        if (starts_word && ends_word) return true;
    }
    return false;
}

// Whether a body staleguard cannot see into (a DO block, a function, a rule) may write rows at
// all: one that reads a protected table, or only names it in a message or a variable, writes
// nothing out of sight. Looked for anywhere in the text, not as words (`$$UPDATE` starts a body),
// FOR UPDATE, COPY and dynamic SQL (EXECUTE) included; and a body that may spell its words in
// escapes (`E'\x55PDATE'`, `U&'\0055PDATE'`, with any UESCAPE) is taken to write.
bool may_write_rows(std::string_view body) {
    if (body.find('\\') != std::string_view::npos || find_ignoring_ascii_case(body, "u&") != std::string_view::npos)
        return true;
    for (std::string_view word : {"update", "delete", "insert", "merge", "truncate", "copy", "execute"}) {
        if (find_ignoring_ascii_case(body, word) != std::string_view::npos) return true;
    }
    return false;
}

const rules::TableRule* rule_mentioned_in(std::string_view text, const rules::RuleSet& rules) {
    for (const rules::TableRule& rule : rules.tables) {
        if (mentions_name(text, rule.table.name)) return &rule;
    }
    return nullptr;
}

// What a parse of the text tells before any name is resolved.
struct NameAnalysis {
    bool harmless_tokens = false;  // the scan proved there is nothing to find: never parsed
    bool parsed = false;
    std::vector<std::string> bare_names;  // bare write targets that some rule protects
};

std::vector<std::string> bare_protected_names(const std::vector<StatementInfo>& statements,
                                              const rules::RuleSet& rules) {
    std::vector<std::string> names;
    for (const StatementInfo& statement : statements) {
        for (const WriteInfo& write : statement.writes) {
            const std::string& name = write.target.name;
            if (write.target.schema.empty() && rules.protects_name(name) &&
                std::find(names.begin(), names.end(), name) == names.end()) {
                names.push_back(name);
            }
        }
    }
    return names;
}

struct TextRange {
    std::size_t begin = 0;
    std::size_t end = 0;
};

// Each statement without the blanks and comments PostgreSQL counts into its slice; `scanned` is
// the scan of `sql` when the caller has it already.
std::vector<TextRange> statement_ranges(const std::vector<StatementInfo>& statements, std::string_view sql,
                                        const std::optional<std::vector<Token>>& scanned) {
    std::vector<TextRange> ranges;
    std::optional<std::vector<Token>> scanned_here;
    if (!scanned) {
        if (auto tokens = scan(sql); tokens.ok()) scanned_here = std::move(tokens).value();
    }
    const std::optional<std::vector<Token>>& tokens = scanned ? scanned : scanned_here;
    for (const StatementInfo& statement : statements) {
        TextRange range{statement.slice.location, statement.slice.location + statement.slice.length};
        if (tokens) {
            const std::vector<Token>& all = *tokens;
            auto first = std::lower_bound(all.begin(), all.end(), range.begin,
                                          [](const Token& token, std::size_t at) { return token.start < at; });
            auto last = first;
            std::optional<TextRange> trimmed;
            for (; last != all.end() && last->end <= range.end; ++last) {
                if (last->kind != TokenKind::Other) continue;
                if (!trimmed) trimmed = TextRange{last->start, last->end};
                trimmed->end = last->end;
            }
            if (trimmed) range = *trimmed;
        }
        ranges.push_back(range);
    }
    return ranges;
}

struct Rejection {
    std::string sqlstate;
    std::string message;
};

// Rewrites the statements of one parsed string; pure apart from editing `tree`.
class TreeRewriter {
public:
    TreeRewriter(std::string_view sql, ParseTree& tree, std::vector<StatementInfo>& statements,
                 const std::optional<std::vector<Token>>& tokens, const rules::RuleSet& rules,
                 const RewriteContext& context, const Resolutions& resolutions)
        : sql_(sql), tree_(tree), statements_(statements), tokens_(tokens), rules_(rules), context_(context),
          resolutions_(resolutions), checks_enabled_(context.checks_enabled) {}

    RewriteResult run() {
        RewriteResult result;
        const std::vector<TextRange> ranges = statement_ranges(statements_, sql_, tokens_);
        for (std::size_t i = 0; i < statements_.size(); ++i) {
            const StatementInfo& info = statements_[i];
            StatementRewrite out;
            out.effects = info.effects;
            out.prepared_name = info.prepared_name;
            const std::string_view as_written = sql_.substr(ranges[i].begin, ranges[i].end - ranges[i].begin);
            out.sql = std::string(as_written);
            if (info.setting_error) {
                return rejected(Rejection{std::string(invalid_setting_sqlstate), *info.setting_error});
            }
            if (auto problem = rewrite_statement(i, out)) {
                if (rules_.unanalysable == rules::UnanalysablePolicy::Reject) return rejected(std::move(*problem));
                out.sql = std::string(as_written);
                out.rewritten = false;
                out.checks.clear();
            }
            follow_effects(info.effects);
            result.statements.push_back(std::move(out));
        }
        std::size_t cursor = 0;
        for (std::size_t i = 0; i < result.statements.size(); ++i) {
            if (!result.statements[i].rewritten) continue;
            result.sql.append(sql_.substr(cursor, ranges[i].begin - cursor));
            result.sql += result.statements[i].sql;
            cursor = ranges[i].end;
            result.outcome = RewriteResult::Outcome::Rewritten;
        }
        result.sql.append(sql_.substr(cursor));
        return result;
    }

private:
    RewriteResult rejected(Rejection rejection) const {
        RewriteResult result;
        result.outcome = RewriteResult::Outcome::Rejected;
        result.sql = std::string(sql_);
        result.error_sqlstate = std::move(rejection.sqlstate);
        result.error_message = std::move(rejection.message);
        return result;
    }

    static Rejection unanalysable(const rules::QualifiedName& table, std::string_view why) {
        return Rejection{std::string(unanalysable_sqlstate), "staleguard cannot rewrite a statement that writes protected table " +
                                                                 table.to_string() + ": " + std::string(why)};
    }

    void follow_effects(const std::vector<SessionEffect>& effects) {
        for (const SessionEffect& effect : effects) {
            switch (effect.kind) {
                case SessionEffect::Kind::SetChecksEnabled:
                    checks_enabled_ = effect.value == "on";
                    break;
                case SessionEffect::Kind::ResetChecksEnabled:
                    checks_enabled_ = true;
                    break;
                case SessionEffect::Kind::ResetAll:
                    checks_enabled_ = true;
                    search_path_changed_ = true;
                    break;
                case SessionEffect::Kind::SetSearchPath:
                case SessionEffect::Kind::ResetSearchPath:
                case SessionEffect::Kind::SearchPathUnknown:
                    search_path_changed_ = true;
                    break;
            }
        }
    }

    struct Match {
        const rules::TableRule* rule = nullptr;
        std::optional<std::string> problem;
    };

    Match match(const TargetRelation& target) const {
        if (!target.schema.empty()) return Match{rules_.find(rules::QualifiedName{target.schema, target.name}), {}};
        if (!rules_.protects_name(target.name)) return {};
        if (search_path_changed_) {
            // The caller resolved this name with the search_path in force before the string.
            const rules::TableRule* some_rule = nullptr;
            for (const rules::TableRule& rule : rules_.tables) {
                if (rule.table.name == target.name) some_rule = &rule;
            }
            return Match{some_rule, "search_path changes earlier in the same query string, so \"" + target.name +
                                        "\" cannot be resolved; send the statements separately or qualify the name"};
        }
        for (const auto& [name, schema] : resolutions_) {
            if (name == target.name) {
                return Match{schema ? rules_.find(rules::QualifiedName{*schema, target.name}) : nullptr, {}};
            }
        }
        return {};
    }

    static bool column_path_names(const std::vector<std::string>& path, const WriteInfo& write,
                                  const rules::QualifiedName& table, std::string_view column) {
        switch (path.size()) {
            case 1:
                return path[0] == column;
            case 2:
                return path[0] == write.target.qualifier() && path[1] == column;
            case 3:
                return write.target.alias.empty() && path[0] == table.schema && path[1] == table.name &&
                       path[2] == column;
            default:
                return false;
        }
    }

    // The values the top-level AND gives `column`, when exactly one conjunct constrains it.
    static const EqualityConstraint* sole_constraint(const WriteInfo& write, const rules::QualifiedName& table,
                                                     std::string_view column) {
        const EqualityConstraint* found = nullptr;
        for (const EqualityConstraint& constraint : write.equalities) {
            if (!column_path_names(constraint.column_path, write, table, column)) continue;
            if (found != nullptr) return nullptr;  // constrained twice: leave it to the server
            found = &constraint;
        }
        return found;
    }

    // A write by key that track mode would check as a statement of its own, run where its rows
    // cannot be seen or its statement cannot carry the check: inside EXPLAIN ANALYZE or COPY
    // (... RETURNING) TO, or as the body of an SQL-level PREPARE. Sent on, it would go unchecked.
    bool track_check_out_of_reach(const WriteInfo& write, const rules::TableRule& rule,
                                  const StatementInfo& info) const {
        if (rule.mode != rules::Mode::Track || !checks_enabled_ || rule.bypasses(context_.role)) return false;
        if (write.top_level || write.in_cte || (!write.executes && info.prepared_name.empty())) return false;
        if (write.kind == WriteKind::Delete) {
            if (rule.on_delete == rules::DeletePolicy::Allow) return false;
        } else if (write.kind != WriteKind::Update) {
            return false;
        }
        if (rule.key.empty()) return false;
        return std::all_of(rule.key.begin(), rule.key.end(), [&](const std::string& column) {
            return std::any_of(write.equalities.begin(), write.equalities.end(), [&](const EqualityConstraint& c) {
                return column_path_names(c.column_path, write, rule.table, column);
            });
        });
    }

    static std::optional<StaleCheck> check_for(const WriteInfo& write, const rules::TableRule& rule, bool is_delete) {
        if (rule.key.empty()) return std::nullopt;
        const EqualityConstraint* version = sole_constraint(write, rule.table, rule.version_column);
        if (version == nullptr || version->values.size() != 1) return std::nullopt;
        StaleCheck check;
        check.rule = &rule;
        check.is_delete = is_delete;
        check.version_value = version->values[0].text;
        std::size_t tuples = 1;
        for (const std::string& column : rule.key) {
            const EqualityConstraint* key = sole_constraint(write, rule.table, column);
            if (key == nullptr) return std::nullopt;
            std::vector<std::string> distinct;
            for (const LiteralValue& value : key->values) {
                if (std::find(distinct.begin(), distinct.end(), value.text) != distinct.end()) continue;
                distinct.push_back(value.text);
                if (value.parameter > 0) check.key_parameters.push_back(value.parameter);
            }
            if (tuples > std::numeric_limits<std::size_t>::max() / distinct.size()) return std::nullopt;
            tuples *= distinct.size();
            if (distinct.size() == 1) {
                check.key_values.push_back(distinct[0]);
            } else {
                std::string joined = "(";
                for (std::size_t i = 0; i < distinct.size(); ++i) joined += (i > 0 ? ", " : "") + distinct[i];
                check.key_values.push_back(joined + ")");
            }
        }
        std::sort(check.key_parameters.begin(), check.key_parameters.end());
        check.key_parameters.erase(std::unique(check.key_parameters.begin(), check.key_parameters.end()),
                                   check.key_parameters.end());
        check.expected_rows = tuples;
        return check;
    }

    std::optional<Rejection> rewrite_statement(std::size_t index, StatementRewrite& out) {
        const StatementInfo& info = statements_[index];
        const std::string_view text = sql_.substr(info.slice.location, info.slice.length);
        if (info.unsupported) {
            if (const rules::TableRule* rule = rule_mentioned_in(text, rules_)) {
                return unanalysable(rule->table, *info.unsupported);
            }
        }
        for (const std::string& opaque : info.opaque_texts) {
            if (!may_write_rows(opaque)) continue;
            if (const rules::TableRule* rule = rule_mentioned_in(opaque, rules_)) {
                return unanalysable(rule->table,
                                    "a DO block, function body or rule that mentions it may write it out of "
                                    "staleguard's sight");
            }
        }
        bool edited = false;
        for (const WriteInfo& write : info.writes) {
            const Match found = match(write.target);
            if (found.problem) return unanalysable(found.rule->table, *found.problem);
            if (found.rule == nullptr) continue;
            const rules::TableRule& rule = *found.rule;
            if (std::find(out.protected_tables.begin(), out.protected_tables.end(), rule.table) ==
                out.protected_tables.end()) {
                out.protected_tables.push_back(rule.table);
            }
            const bool checks = rule.mode == rules::Mode::Client && checks_enabled_ && !rule.bypasses(context_.role) &&
                                write.counts_rows;
            if (track_check_out_of_reach(write, rule, info)) {
                return unanalysable(rule.table,
                                    "track mode checks a keyed UPDATE or DELETE sent as a statement of its own, not "
                                    "one run by EXPLAIN ANALYZE, COPY or an SQL-level PREPARE");
            }
            switch (write.kind) {
                case WriteKind::Insert:
                case WriteKind::MergeDelete:
                    break;
                case WriteKind::Delete:
                    if (checks && rule.on_delete == rules::DeletePolicy::Check) {
                        if (auto check = check_for(write, rule, true)) out.checks.push_back(std::move(*check));
                    }
                    break;
                case WriteKind::Update:
                case WriteKind::InsertConflictUpdate:
                case WriteKind::MergeUpdate: {
                    if (!rule.update_is_guarded(write.assigned_columns())) break;
                    const bool bumps = rule.bumped_by == rules::BumpedBy::Staleguard &&
                                       rule.kind != rules::VersionKind::Xmin;
                    if (bumps) {
                        VersionBump bump;
                        bump.qualifier = write.target.qualifier();
                        bump.version_column = rule.version_column;
                        bump.kind = rule.kind == rules::VersionKind::Timestamp ? BumpKind::Timestamp : BumpKind::Counter;
                        bump.owns_version = rule.mode != rules::Mode::Client;
                        const BumpEdit edit = apply_version_bump(write.assignment_list, bump);
                        if (edit.unanalysable) return unanalysable(rule.table, *edit.unanalysable);
                        edited = edited || edit.changed;
                    }
                    if (checks && write.kind == WriteKind::Update) {
                        if (auto check = check_for(write, rule, false)) out.checks.push_back(std::move(*check));
                    }
                    break;
                }
            }
        }
        if (!edited) return std::nullopt;
        auto rewritten = deparse_statement(tree_, index);
        const rules::QualifiedName& table = out.protected_tables.front();
        if (!rewritten.ok()) return unanalysable(table, "cannot deparse it: " + rewritten.error().message);
        // The deparser does not know every construct equally well: only send what reads back
        // as the very tree we built.
        auto reread = parse(rewritten.value());
        if (!reread.ok() || reread.value().statement_count() != 1 || !same_statement(reread.value(), 0, tree_, index)) {
            return unanalysable(table, "its rewritten text would not mean the same");
        }
        out.sql = std::move(rewritten).value();
        out.rewritten = true;
        return std::nullopt;
    }

    std::string_view sql_;
    ParseTree& tree_;
    std::vector<StatementInfo>& statements_;
    const std::optional<std::vector<Token>>& tokens_;
    const rules::RuleSet& rules_;
    const RewriteContext& context_;
    const Resolutions& resolutions_;
    bool checks_enabled_;
    bool search_path_changed_ = false;
};

RewriteResult untouched(std::string_view sql) {
    RewriteResult result;
    result.sql = std::string(sql);
    return result;
}

// What the first look at a string that passed the name precheck leaves for the rewrite.
struct FreshAnalysis {
    std::optional<ParseTree> tree;
    std::vector<StatementInfo> statements;
    std::optional<std::vector<Token>> tokens;
};

// Scans, and parses only when the tokens say analysis may find something; `fresh` keeps the
// tree and tokens for a rewrite that follows.
std::shared_ptr<NameAnalysis> analyse_names(std::string_view sql, const rules::RuleSet& rules, FreshAnalysis& fresh) {
    auto analysis = std::make_shared<NameAnalysis>();
    TokenPrefilter prefilter = prefilter_tokens(sql);
    if (!prefilter.needs_parse) {
        analysis->harmless_tokens = true;
        return analysis;
    }
    if (auto parsed = parse(sql); parsed.ok()) {
        fresh.tree = std::move(parsed).value();
        fresh.statements = analyse(*fresh.tree, sql);
        fresh.tokens = std::move(prefilter.tokens);
        analysis->parsed = true;
        analysis->bare_names = bare_protected_names(fresh.statements, rules);
    }
    return analysis;
}

}  // namespace

struct Rewriter::Caches {
    explicit Caches(std::size_t capacity) : names(capacity), results(capacity) {}
    LruCache<std::shared_ptr<const NameAnalysis>> names;
    LruCache<std::shared_ptr<const RewriteResult>> results;
};

Rewriter::Rewriter(std::shared_ptr<const rules::RuleSet> rules, std::size_t cache_capacity)
    : rules_(rules ? std::move(rules) : std::make_shared<const rules::RuleSet>()),
      caches_(std::make_unique<Caches>(cache_capacity)),
      tracker_(std::make_unique<TrackPlanner>(rules_, cache_capacity)),
      shapes_(std::make_unique<ShapePlanner>(cache_capacity)) {
    for (const rules::TableRule& rule : rules_->tables) {
        std::string needle = ascii_lowered(rule.table.name);
        if (!needle.empty() && std::find(needles_.begin(), needles_.end(), needle) == needles_.end()) {
            needles_.push_back(std::move(needle));
        }
    }
    for (std::string_view word : session_words) needles_.emplace_back(word);
    for (std::size_t i = 0; i < needles_.size(); ++i) {
        needles_by_first_byte_[static_cast<unsigned char>(needles_[i][0])].push_back(i);
    }
}

Rewriter::~Rewriter() = default;

const rules::RuleSet& Rewriter::rules() const { return *rules_; }

RewriteCacheStats Rewriter::cache_stats() const {
    const auto stats = caches_->results.stats();
    return RewriteCacheStats{stats.hits, stats.misses, stats.size, stats.capacity};
}

bool Rewriter::may_need_rewrite(std::string_view sql) const {
    // Even with no rules, session words matter: a later rule reload relies on the session
    // having followed search_path all along.
    for (std::size_t at = 0; at < sql.size(); ++at) {
        for (const std::size_t index : needles_by_first_byte_[static_cast<unsigned char>(ascii_lower(sql[at]))]) {
            const std::string& needle = needles_[index];
            if (sql.size() - at < needle.size()) continue;
            bool equal = true;
            for (std::size_t i = 1; i < needle.size() && equal; ++i) equal = ascii_lower(sql[at + i]) == needle[i];
            if (equal) return true;
        }
    }
    return false;
}

std::vector<std::string> Rewriter::names_to_resolve(std::string_view sql) const {
    if (!may_need_rewrite(sql)) return {};
    const bool cacheable = sql.size() <= max_cached_statement_bytes;
    if (cacheable) {
        if (auto cached = caches_->names.get(sql)) return (*cached)->bare_names;
    }
    FreshAnalysis fresh;
    auto analysis = analyse_names(sql, *rules_, fresh);
    if (cacheable) caches_->names.put(std::string(sql), analysis);
    return analysis->bare_names;
}

std::optional<std::string> resolve_bare_name(const SchemaResolver& resolve, std::string_view bare_name) {
    return resolve ? resolve(bare_name) : std::optional<std::string>(default_schema);
}

SchemaResolver recording_resolver(const SchemaResolver& resolve, Resolutions& asked) {
    return [&resolve, &asked](std::string_view bare) -> std::optional<std::string> {
        for (const auto& [name, schema] : asked) {
            if (name == bare) return schema;
        }
        auto schema = resolve_bare_name(resolve, bare);
        asked.emplace_back(std::string(bare), schema);
        return schema;
    };
}

bool still_current(const Resolutions& asked, const SchemaResolver& resolve) {
    return std::all_of(asked.begin(), asked.end(),
                       [&](const auto& answer) { return resolve_bare_name(resolve, answer.first) == answer.second; });
}

std::string Rewriter::context_key(const RewriteContext& context) const {
    std::string key(1, context.checks_enabled ? '1' : '0');
    for (const rules::TableRule& rule : rules_->tables) key += rule.bypasses(context.role) ? '1' : '0';
    return key;
}

RewriteResult Rewriter::rewrite(std::string_view sql, const RewriteContext& context) const {
    if (!may_need_rewrite(sql)) return untouched(sql);
    const bool cacheable = sql.size() <= max_cached_statement_bytes;

    FreshAnalysis fresh;
    std::shared_ptr<const NameAnalysis> names;
    if (cacheable) {
        if (auto cached = caches_->names.get(sql)) names = *cached;
    }
    if (!names) {
        auto analysis = analyse_names(sql, *rules_, fresh);
        if (cacheable) caches_->names.put(std::string(sql), analysis);
        names = std::move(analysis);
    }
    // Nothing to find: a parse would report every statement untouched, without effects.
    if (names->harmless_tokens) return untouched(sql);
    // A string the parser refuses goes through as written: the server reports the error.
    if (!names->parsed) return untouched(sql);

    Resolutions resolutions;
    for (const std::string& name : names->bare_names) {
        resolutions.emplace_back(name, resolve_bare_name(context.resolve_schema, name));
    }
    std::string key;
    if (cacheable) {
        key.reserve(sql.size() + 16 + rules_->tables.size());
        key.append(sql);
        key += '\0';
        key += context_key(context);
        for (const auto& [name, schema] : resolutions) {
            key += '\0';
            key += name;
            key += schema ? '\1' + *schema : std::string("\2");
        }
        if (auto cached = caches_->results.get(key)) return **cached;
    }
    if (!fresh.tree) {
        auto parsed = parse(sql);
        if (!parsed.ok()) return untouched(sql);
        fresh.tree = std::move(parsed).value();
        fresh.statements = analyse(*fresh.tree, sql);
    }
    RewriteResult result =
        TreeRewriter(sql, *fresh.tree, fresh.statements, fresh.tokens, *rules_, context, resolutions).run();
    if (cacheable) caches_->results.put(std::move(key), std::make_shared<const RewriteResult>(result));
    return result;
}

}  // namespace staleguard::parser
