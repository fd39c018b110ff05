// Per-session statement policy, without I/O: what to send upstream for each Query, Parse, Bind and
// Execute (rewritten text, checks to make, errors to raise), and the session settings it follows
// (search_path, staleguard.enabled) together with its prepared statements and portals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "parser/rewrite.hpp"
#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frontend_messages.hpp"

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

// Routing of the responses to one message sent upstream.
struct ResponseRoute {
    bool hide_completion = false;  // ParseComplete / BindComplete of messages the proxy added
    bool hide_no_data = false;     // NoData answering a Describe the proxy added
    bool hide_everything = false;  // the proxy's own lookup query
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
    std::vector<StatementPlan> statements;
};

struct ParsePlan {
    std::optional<std::string> sql;  // replacement text; nullopt = forward as is
    std::optional<std::vector<std::uint8_t>> replacement_error;
};

class StatementGuard {
public:
    // The session user: bypass_roles and "$user" in search_path refer to it.
    void set_role(std::string role) { role_ = std::move(role); }

    // False when planning `sql` would certainly forward it as it came: no parse needed.
    bool may_act_on(const parser::Rewriter& rewriter, std::string_view sql) const {
        return rewriter.may_need_rewrite(sql) || !sql_prepared_.empty();
    }
    QueryPlan plan_query(const parser::Rewriter& rewriter, std::string_view sql);
    ParsePlan plan_parse(const parser::Rewriter& rewriter, const wire::Parse& parse);
    void on_bind(const wire::Bind& bind);
    std::optional<WriteCheck> on_execute(const wire::Execute& execute) const;
    void on_close(const wire::Close& close);
    // SET LOCAL ends with the transaction block.
    void on_ready_for_query(wire::TransactionStatus status);

    // Bare protected names in `sql` whose schema this session has not yet learnt from the server.
    std::vector<std::string> names_to_look_up(const parser::Rewriter& rewriter, std::string_view sql) const;
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
        std::vector<std::uint32_t> parameter_types;  // as declared at Parse; 0 = unspecified
    };

    parser::RewriteContext context(const parser::Rewriter& rewriter);
    std::optional<std::string> resolve(const parser::Rewriter& rewriter, std::string_view bare_name) const;
    void apply(const std::vector<parser::SessionEffect>& effects);
    std::optional<CheckTemplate> usable_check(const parser::Rewriter& rewriter,
                                              const parser::StatementRewrite& statement) const;
    std::optional<CheckTemplate> check_template(const parser::Rewriter& rewriter,
                                                const parser::StatementRewrite& statement) const;
    // `EXECUTE name(...)` of a statement PREPAREd with a check: that check, its $n filled in.
    std::optional<WriteCheck> check_of_execute(std::string_view sql) const;

    std::string role_;
    std::optional<std::string> search_path_;  // nullopt: unknown, the server's default applies
    std::optional<std::string> search_path_before_local_;
    bool search_path_local_ = false;
    bool checks_enabled_ = true;
    std::optional<bool> checks_enabled_local_;
    std::unordered_map<std::string, std::optional<std::string>> schema_of_;  // from the server
    std::unordered_map<std::string, std::optional<CheckTemplate>> statements_;
    std::unordered_map<std::string, std::optional<WriteCheck>> portals_;
    // SQL-level PREPARE name AS ...: checks that apply to each EXECUTE name(...).
    std::unordered_map<std::string, CheckTemplate> sql_prepared_;
};

// Replaces each $n in `text` by value_of(n); a $n without a value stays as written.
std::string substitute(std::string_view text, const std::function<std::optional<std::string>(std::size_t)>& value_of);

// Replaces each $n in `text` by parameter n of a Bind as text: text-format values as sent, binary
// integers, text and uuids decoded by the type the client declared at Parse, "NULL", else "?".
std::string substitute_parameters(std::string_view text, const wire::Bind& bind,
                                  const std::vector<std::uint32_t>& parameter_types);

}  // namespace staleguard::session
