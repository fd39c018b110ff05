// Per-session statement policy, without I/O: what to send upstream for each Query, Parse, Bind and
// Execute (rewritten text, checks to make, errors to raise), and the session settings it follows
// (search_path, staleguard.enabled) together with its prepared statements and portals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "parser/ascii_case.hpp"
#include "parser/literal_template.hpp"
#include "parser/rewrite.hpp"
#include "parser/shape_planner.hpp"
#include "parser/track_planner.hpp"
#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/binary_values.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/read_set.hpp"
#include "proxy/tracked_result.hpp"
#include "proxy/write_journal.hpp"

namespace staleguard::session {

// What one client-mode write must show: fewer rows than keys given means another session
// changed (or deleted) a row since this client read it.
struct WriteCheck {
    std::string table;             // "public.accounts"
    std::string key_columns;       // "id" or "tenant, id"
    std::string key_values;        // "1", "1, 7", "(1, 2)"; empty when unknown
    std::string expected_version;  // empty when unknown
    std::size_t expected_rows = 1;
    bool is_delete = false;
    std::string sqlstate = "40001";
};

// The ErrorResponse for a stale write (severity ERROR, the rules' SQLSTATE).
wire::ErrorResponse stale_write_error(const WriteCheck& check, std::uint64_t rows_changed);

// Text that PostgreSQL refuses at parse time. Sending it in place of a statement makes the server
// itself fail that statement (rolling back the implicit transaction, or aborting the transaction
// block, and skipping the rest of the batch) while the proxy shows the client its own error in
// place of the syntax error. Client and server thus always agree on the transaction state.
inline constexpr std::string_view kServerSideFailure = "staleguard raised an error for this statement";
// In the middle of an extended-protocol batch, a Bind to a statement that cannot exist fails the
// same way without touching the client's unnamed statement.
inline constexpr std::string_view kMissingStatement = "staleguard: stale write";

// A prepared statement's parameter types: as declared at Parse (0 = unspecified), completed from
// the server's ParameterDescription. Drivers that bind in binary describe the statement instead
// of declaring types (asyncpg, pgx, tokio-postgres); the key values they bind are read by type.
using ParameterTypes = std::vector<std::uint32_t>;

// Fills in the types left unspecified (0) in `declared` from a ParameterDescription.
void learn_parameter_types(ParameterTypes& declared, const std::vector<std::uint32_t>& described);

// Routing of the responses to one message sent upstream.
struct ResponseRoute {
    bool hide_completion = false;  // ParseComplete / BindComplete / CloseComplete of messages the proxy added
    bool hide_no_data = false;     // NoData answering a Describe the proxy added
    bool hide_everything = false;  // the proxy's own lookup query
    bool recheck = false;          // the Execute of the proxy's re-read of rows a write left alone
    std::optional<WriteCheck> check;                         // a checked Execute
    std::optional<std::vector<std::uint8_t>> replacement_error;  // shown instead of the server's error
    // The server counts error positions in the text it was sent. Where that text is the client's
    // own, shifted, the position is moved back into the client's string; where staleguard rewrote
    // it, the position is dropped: no caret is better than a caret in the wrong place.
    std::int64_t position_shift = 0;
    bool drop_position = false;
    // For a rewritten statement: what the client sent and what went upstream, whose tokens are
    // aligned to carry a position across (dropped only when it falls on a token staleguard added).
    struct Texts {
        std::string original;
        std::string sent;
    };
    std::shared_ptr<const Texts> rewritten_texts;
    // Track mode: the hidden columns to strip from RowDescription and DataRow and what their
    // values mean; a Describe of a keyed write also hides the parameters staleguard added.
    std::shared_ptr<const TrackedResult> tracked;
    std::optional<std::size_t> visible_parameters;
    // A Describe of a statement whose key values may come bound in binary: the types its
    // ParameterDescription names complete the ones the client left unspecified at Parse.
    std::shared_ptr<ParameterTypes> parameter_types_to_learn;
    std::vector<ReturnedRow> returned;  // filled while a tracked write's rows come back
    // A Sync sent right behind a checked single-row write (its correlation), the verdict not
    // awaited: when the write proves stale, the ReadyForQuery is held back, and the client gets
    // the one that follows the proxy's failing Bind instead.
    std::uint64_t ready_held_if_stale = 0;

    // Every response passes unchanged: the session keeps no route for it.
    bool is_plain() const {
        return !hide_completion && !hide_no_data && !hide_everything && !recheck && !check && !replacement_error &&
               position_shift == 0 && !drop_position && !tracked && !visible_parameters && !parameter_types_to_learn &&
               ready_held_if_stale == 0;
    }

    static ResponseRoute completion_hidden() {
        ResponseRoute route;
        route.hide_completion = true;
        return route;
    }
    static ResponseRoute no_data_hidden() {
        ResponseRoute route;
        route.hide_no_data = true;
        return route;
    }
    static ResponseRoute internal() {
        ResponseRoute route;
        route.hide_everything = true;
        return route;
    }
    static ResponseRoute checked(std::optional<WriteCheck> check) {
        ResponseRoute route;
        route.check = std::move(check);
        return route;
    }
    static ResponseRoute error_replaced_by(std::optional<std::vector<std::uint8_t>> error) {
        ResponseRoute route;
        route.replacement_error = std::move(error);
        return route;
    }
};

struct StatementPlan {
    std::string sql;
    std::optional<WriteCheck> check;
    // Characters before `sql` in the client's string when it was sent as written (PostgreSQL
    // counts error positions in characters); nullopt when rewritten.
    std::optional<std::size_t> offset_in_query;
    std::shared_ptr<const TrackedResult> tracked;
};

struct QueryPlan {
    enum class Kind {
        Forward,    // send the client's message as it came
        Replace,    // send a Query with `sql` instead
        Translate,  // run `statements` through the extended protocol, checking as they complete
    };
    Kind kind = Kind::Forward;
    std::string sql;
    std::optional<std::vector<std::uint8_t>> replacement_error;  // Replace: the error to show
    std::shared_ptr<const TrackedResult> tracked;                // Replace: a tracked read
    std::vector<StatementPlan> statements;
};

struct ParsePlan {
    std::optional<std::string> sql;  // replacement text; nullopt = forward as is
    bool tracked = false;            // track mode: a tracked read or keyed write
    std::optional<std::vector<std::uint8_t>> replacement_error;
};

struct BindPlan {
    std::optional<std::vector<std::uint8_t>> bind;               // sent instead of the client's Bind
    std::optional<std::vector<std::uint8_t>> replacement_error;  // the Bind must fail with this
};

struct ExecutePlan {
    std::optional<WriteCheck> check;
    std::shared_ptr<const TrackedResult> tracked;
};

struct DescribePlan {
    std::optional<std::size_t> visible_parameters;
    std::shared_ptr<const TrackedResult> tracked;
    std::shared_ptr<ParameterTypes> parameter_types_to_learn;  // see ResponseRoute
};

class StatementGuard {
public:
    // The session user: bypass_roles and "$user" in search_path refer to it.
    void set_role(std::string role) { role_ = std::move(role); }

    // False when planning `sql` would certainly forward it as it came: no parse needed.
    bool may_act_on(const parser::Rewriter& rewriter, std::string_view sql) const {
        // An EXECUTE may run a statement prepared with Parse (one namespace), whose rows are tracked.
        return rewriter.may_need_rewrite(sql) || !sql_prepared_.empty() ||
               (!statements_.empty() && parser::find_ignoring_ascii_case(sql, "execute") != std::string_view::npos);
    }
    QueryPlan plan_query(const parser::Rewriter& rewriter, std::string_view sql);
    // A Query or Parse sent on without planning still replaces what the session knew of the
    // statement (and, for a Query, the portal) it overwrites.
    void on_query_forwarded() {
        statements_.erase("");
        portals_.erase("");
    }
    void on_parse_forwarded(std::string_view statement) { statements_.erase(std::string(statement)); }
    ParsePlan plan_parse(const parser::Rewriter& rewriter, const wire::Parse& parse);
    BindPlan on_bind(const parser::Rewriter& rewriter, const wire::Frame& frame, const wire::Bind& bind);
    ExecutePlan on_execute(const wire::Execute& execute) const;
    DescribePlan on_describe(const wire::Describe& describe) const;
    void on_close(const wire::Close& close);
    // A portal whose write ran to its end at one Execute: nothing further of it is judged.
    void forget_portal(std::string_view portal) { portals_.erase(std::string(portal)); }
    // A Parse or Close changes what a statement name means only if the server runs it: the
    // session notes each before forwarding it (`correlation` names its request), and reports its
    // ParseComplete/CloseComplete, or that it failed or was skipped after an earlier error of its
    // batch, which leaves the name as it was (PostgreSQL keeps a statement whose name a second
    // Parse repeats: 42P05).
    void note_statement_change(std::string_view name, std::uint64_t correlation);
    void on_statement_change_done(std::uint64_t correlation);
    void undo_statement_changes(const std::vector<std::uint64_t>& correlations);

    // Track mode: rows a session received (read) and rows its writes returned.
    void remember_read(const HiddenLayout& layout, const std::vector<TrackedRow>& rows);
    void apply_write(const TrackedResult& tracked, const std::vector<ReturnedRow>& rows);
    const ReadSet* read_set() const { return read_set_.get(); }
    // SET LOCAL ends with the transaction block; a rolled-back write's ReadSet change is undone.
    void on_ready_for_query(wire::TransactionStatus status);
    void on_command_complete(std::string_view tag);
    // The server's ParameterStatus: DateStyle decides whether dates bound in binary can be read.
    void on_parameter_status(std::string_view name, std::string_view value);
    void on_server_error() { journal_.on_error(); }

    // Bare protected names in `sql` whose schema this session has not yet learnt from the server.
    std::vector<std::string> names_to_look_up(const parser::Rewriter& rewriter, std::string_view sql);
    void remember_lookup(const std::string& name, std::optional<std::string> schema);
    bool search_path_known_for(const std::string& name) const { return schema_of_.contains(name); }
    // What the server told us about schemas may be out of date (a table created since).
    void forget_schemas() { schema_of_.clear(); }

    bool checks_enabled() const;
    const std::optional<std::string>& search_path() const { return search_path_; }
    void set_search_path(std::optional<std::string> value);

private:
    // A check whose key values or expected version may name $n parameters, filled at Bind.
    struct CheckTemplate {
        WriteCheck check;
    };
    // What the session knows of one prepared statement beyond its text.
    struct PreparedStatement {
        std::optional<CheckTemplate> check;
        std::shared_ptr<const TrackedResult> tracked;  // a tracked read
        // A tracked keyed write: its key values come with each Bind, which also carries the
        // keys and versions seen as two array parameters after the client's own.
        std::shared_ptr<const parser::TrackedStatement> keyed;
        std::size_t client_parameters = 0;
        // Shared with the route of a Describe of the statement, whose ParameterDescription fills it in.
        std::shared_ptr<ParameterTypes> parameter_types = std::make_shared<ParameterTypes>();
        bool checks_enabled = true;  // a /* staleguard:off */ statement stays unchecked
    };
    struct Portal {
        std::optional<WriteCheck> check;
        std::shared_ptr<const TrackedResult> tracked;
    };
    // A keyed write's check against the ReadSet for the rows it targets (nullopt: not known).
    struct KeyedOutcome {
        std::shared_ptr<const TrackedResult> tracked;
        std::vector<parser::SeenVersion> seen;  // the targeted rows the ReadSet holds
        std::optional<std::vector<std::uint8_t>> error;
    };
    KeyedOutcome check_keyed(const parser::Rewriter& rewriter, const parser::TrackedStatement& plan,
                             const std::optional<std::vector<std::vector<std::string>>>& tuples, bool checks);
    // `planned`: the tracker's plan of `statement` when the caller has it already.
    std::shared_ptr<const parser::TrackedStatement> track(const parser::Rewriter& rewriter, std::string_view statement,
                                                          std::shared_ptr<const parser::TrackedStatement> planned = nullptr);
    // The rewriter's and tracker's plans of a query string, through the shape planner.
    parser::TextPlan plan_text(const parser::Rewriter& rewriter, std::string_view sql,
                               const parser::RewriteContext& context);
    // The literal template of `sql`, kept for the string last asked about: the schema look-up and
    // the plan of one Query both want it.
    const parser::LiteralTemplate* shape_of(std::string_view sql);


    parser::RewriteContext context(const parser::Rewriter& rewriter);
    std::optional<std::string> resolve(const parser::Rewriter& rewriter, std::string_view bare_name) const;
    void apply(const std::vector<parser::SessionEffect>& effects);
    std::optional<CheckTemplate> usable_check(const parser::Rewriter& rewriter,
                                              const parser::StatementRewrite& statement) const;
    std::optional<CheckTemplate> check_template(const parser::Rewriter& rewriter,
                                                const parser::StatementRewrite& statement) const;
    // `EXECUTE name(...)` of a statement PREPAREd with a check: that check, its $n filled in.
    // The tracked rows of `EXECUTE name(...)` when `name` is a statement prepared with Parse.
    std::shared_ptr<const TrackedResult> tracked_of_execute(std::string_view sql) const;
    std::optional<WriteCheck> check_of_execute(std::string_view sql) const;

    std::string role_;
    std::optional<std::string> search_path_;  // nullopt: unknown, the server's default applies
    std::optional<std::string> search_path_before_local_;
    bool search_path_local_ = false;
    // PostgreSQL undoes a SET that its transaction or savepoint rolls back. The checks setting as
    // the current transaction found it, once a SET changed it, and whether a SET changed the
    // search_path: a rollback makes checks on if either value was on (the tag does not say which
    // savepoint, and on is the safe guess) and the search_path learnt from the server again.
    std::optional<bool> checks_before_transaction_;
    // Protected tables the current transaction wrote without staleguard seeing which rows (MERGE,
    // a write inside WITH, a plain INSERT): a row read from them afterwards may carry a version
    // only this transaction made, so such reads are journaled like writes and undone with it.
    std::vector<std::string> blind_written_;
    void note_blind_writes(const parser::StatementRewrite& statement, std::string_view seen_target);
    bool search_path_set_in_transaction_ = false;
    // A relation created, dropped or renamed in this transaction: rolled back, it may undo what
    // a bare name resolves to.
    bool relations_changed_in_transaction_ = false;
    void undo_settings_of_rolled_back_transaction();
    bool checks_enabled_ = true;
    std::optional<bool> checks_enabled_local_;
    std::unordered_map<std::string, std::optional<std::string>> schema_of_;  // from the server
    wire::ValueTextSettings value_settings_;  // from the server's ParameterStatus
    // standard_conforming_strings, from the server's ParameterStatus: off, PostgreSQL reads
    // backslash escapes in '...' literals, which staleguard's parser does not.
    bool standard_strings_ = true;
    // client_encoding, from the server's ParameterStatus, when it is one whose multibyte
    // characters can hold ASCII bytes (SJIS, BIG5, ...): non-ASCII text in it cannot be analysed.
    std::optional<std::string> client_encoding_unsafe_;
    // A string PostgreSQL may read otherwise than the parser (see standard_strings_ and
    // client_encoding_unsafe_): true when it is to be refused or sent as written, untouched, as
    // the rules' unanalysable policy says (`plan` then carries the refusal).
    template <typename Plan>
    bool misread_by_parser(const parser::Rewriter& rewriter, std::string_view sql, Plan& plan) const;
    std::string shape_sql_;
    std::optional<parser::LiteralTemplate> shape_;
    std::unordered_map<std::string, PreparedStatement> statements_;
    // Oldest first: a Parse or Close the server has not answered yet, and what its name meant before.
    struct StatementChange {
        std::uint64_t correlation = 0;
        std::string name;
        std::optional<PreparedStatement> before;
    };
    std::deque<StatementChange> unanswered_statement_changes_;
    std::unordered_map<std::string, Portal> portals_;
    std::unique_ptr<ReadSet> read_set_;  // made at the first tracked read
    std::size_t max_tracked_rows_ = 100000;
    WriteJournal journal_{max_tracked_rows_};
    // SQL-level PREPARE name AS ...: checks that apply to each EXECUTE name(...).
    std::unordered_map<std::string, CheckTemplate> sql_prepared_;
};

// Replaces each $n in `text` by value_of(n); a $n without a value stays as written.
std::string substitute(std::string_view text, const std::function<std::optional<std::string>(std::size_t)>& value_of);

// Replaces each $n in `text` by parameter n of a Bind as text: text-format values as sent, binary
// ones decoded by their type (declared at Parse or learnt from the server's ParameterDescription;
// see wire::binary_value_text), "NULL", else "?". For messages.
std::string substitute_parameters(std::string_view text, const wire::Bind& bind,
                                  const std::vector<std::uint32_t>& parameter_types,
                                  const wire::ValueTextSettings& settings);
// The same for a key value: nullopt when a parameter it names has no text known for sure.
std::optional<std::string> substitute_bound_parameters(std::string_view text, const wire::Bind& bind,
                                                      const std::vector<std::uint32_t>& parameter_types,
                                                      const wire::ValueTextSettings& settings);

// Whether the string carries the comment /* staleguard:off */ (or -- staleguard:off).
bool has_off_comment(std::string_view sql);

}  // namespace staleguard::session
