// Session lifecycle: startup exchange, upstream connect, the two forwarding pumps, and shutdown.
#include "proxy/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/codec/message_tag.hpp"
#include "proxy/codec/startup_messages.hpp"
#include "parser/position_map.hpp"
#include "parser/track_planner.hpp"
#include "proxy/sasl_mechanisms.hpp"
#include "proxy/server.hpp"

namespace staleguard::session {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

// The virtual database of the admin console (SHOW STATS, RELOAD, ...).
constexpr std::string_view kAdminDatabase = "staleguard";

// What PostgreSQL answers an SSLRequest or GSSENCRequest it will not honour.
constexpr std::uint8_t kRefuseEncryption = 'N';
constexpr std::uint8_t kAcceptTls = 'S';
// A client may ask for GSS encryption, then TLS, then start: more requests are a violation.
constexpr int kMaxEncryptionRequests = 2;

bool is_fatal_error(const wire::Frame& frame) {
    auto error = wire::ErrorResponse::decode(frame);
    if (!error) return false;
    auto severity = error->get(wire::field::SeverityNonLocalized);
    if (severity.empty()) severity = error->get(wire::field::Severity);
    return severity == "FATAL" || severity == "PANIC";
}

std::string describe(const error_code& ec) { return ec.message(); }

asio::mutable_buffer as_buffer(std::span<std::uint8_t> bytes) { return {bytes.data(), bytes.size()}; }

// A text-format column value as it came.
std::string text_of(const wire::Bytes& bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

bool needs_verdict(const std::optional<WriteCheck>& check, const TrackedResult* tracked) {
    return check || (tracked && tracked->check);
}

// A checked write that, when stale, has changed no row: one key, so a stale row means no row
// matched. Nothing of it needs rolling back, so its verdict may come after its Sync.
bool stale_changes_nothing(const std::optional<WriteCheck>& check, const TrackedResult* tracked) {
    if (check) return check->expected_rows == 1;
    return tracked && tracked->check && tracked->check->targeted_rows == 1 && tracked->check->seen.size() == 1;
}

}  // namespace

Session::Session(AcceptedClient client, Server& server, std::uint64_t id, bool over_capacity)
    : server_(server),
      settings_(server.settings()),
      id_(id),
      over_capacity_(over_capacity),
      executor_(client.socket.get_executor()),
      client_address_(std::move(client.address)),
      client_over_unix_socket_(client.over_unix_socket),
      client_(std::move(client.socket)),
      upstream_(executor_),
      startup_timer_(executor_),
      client_in_(settings_.read_chunk),
      server_in_(settings_.read_chunk),
      client_reader_(settings_.frame_limits),
      server_reader_(wire::FrameLimits{}),
      wake_timer_(executor_),
      opened_at_(std::chrono::steady_clock::now()) {
    error_code ec;
    client_.socket().non_blocking(true, ec);
    prefix_ = "[s" + std::to_string(id_) + " " + client_address_ + "]";
    stats_ = std::make_shared<SessionStats>(id_, client_address_);
}

Session::~Session() = default;

std::vector<std::uint8_t> Session::fatal(std::string_view sqlstate, std::string_view message) {
    return wire::ErrorResponse::make(sqlstate, message, {}, "FATAL").encode();
}

void Session::start() {
    auto self = shared_from_this();
    asio::co_spawn(executor_, [self]() { return self->run(); }, asio::detached);
}

void Session::request_shutdown() {
    asio::post(executor_, [self = shared_from_this()] {
        self->shutting_down_ = true;
        if (!self->conversation_.startup_complete()) {
            self->note_end("shutdown during startup");
            self->close_upstream();
            self->close_client();
        } else if (self->conversation_.at_rest() && !self->ready_held_) {
            self->end_at_rest();
        }
    });
}

void Session::force_stop(std::string reason) {
    asio::post(executor_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
        self->note_end(std::move(reason));
        self->close_upstream();
        self->close_client();
    });
}

void Session::note_end(std::string reason) {
    if (end_reason_.empty()) end_reason_ = std::move(reason);
}

void Session::set_final_client_message(std::vector<std::uint8_t> bytes) {
    if (!final_client_message_) final_client_message_ = std::move(bytes);
}

void Session::fail_protocol(std::string message) {
    spdlog::warn("{} protocol violation: {}", prefix(), message);
    set_final_client_message(fatal("08P01", "invalid frontend message: " + message));
    note_end("protocol violation: " + message);
}

// At a ReadyForQuery with nothing outstanding the client can be told and the server released
// without either of them being mid-conversation.
void Session::end_at_rest() {
    note_end("proxy shutting down");
    set_final_client_message(fatal("57P01", "terminating connection because staleguard is shutting down"));
    close_upstream();
}

void Session::close_upstream() { upstream_.close(); }

void Session::close_client() { client_.close(); }

awaitable<void> Session::write_final_and_close_client() {
    if (final_client_message_ && client_.socket().is_open()) {
        error_code ec;
        co_await client_.async_write(asio::buffer(*final_client_message_),
                                   asio::redirect_error(use_awaitable, ec));
    }
    close_client();
}

void Session::pump_finished() {
    if (--pumps_running_ > 0) return;
    startup_timer_.cancel();
    auto duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_at_).count();
    if (logged_open_) {
        server_.metrics().session_closed();
        spdlog::info("{} session closed user={} database={} duration={:.3f}s bytes_in={} bytes_out={} reason={}",
                     prefix(), user_, database_, duration, bytes_from_client_, bytes_from_server_,
                     end_reason_.empty() ? "unknown" : end_reason_);
    } else {
        spdlog::debug("{} connection closed before a session started: {}", prefix(),
                      end_reason_.empty() ? "unknown" : end_reason_);
    }
    server_.session_ended(id_);
}

awaitable<void> Session::watch_startup() {
    // co_spawn only queues this coroutine: the session may have ended, or finished its startup,
    // before it first runs, and the cancel() meant for this wait has then already happened. A wait
    // begun anyway would keep the worker's io_context busy (and a SIGTERM waiting) for the whole
    // startup timeout.
    if (pumps_running_ == 0 || conversation_.startup_complete()) co_return;
    startup_timer_.expires_after(settings_.startup_timeout);
    error_code ec;
    co_await startup_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec || conversation_.startup_complete()) co_return;
    spdlog::warn("{} startup did not finish within {} ms", prefix(), settings_.startup_timeout.count());
    note_end("startup timeout");
    close_upstream();
    close_client();
}

awaitable<std::optional<wire::Frame>> Session::read_startup_frame() {
    for (;;) {
        auto outcome = client_reader_.next(client_in_.readable(), wire::FramePhase::Startup);
        if (outcome.is_frame()) co_return outcome.frame;
        if (outcome.is_error()) {
            spdlog::warn("{} invalid startup packet: {}", prefix(), outcome.error);
            set_final_client_message(fatal("08P01", "invalid startup packet: " + outcome.error));
            note_end("invalid startup packet");
            co_return std::nullopt;
        }
        std::size_t want = outcome.needed > client_in_.size() ? outcome.needed - client_in_.size() : 1;
        error_code ec;
        std::size_t n = co_await client_.read_some(as_buffer(client_in_.prepare(std::max(want, std::size_t{512}))), ec);
        if (ec) {
            note_end(client_in_.empty() ? "client disconnected during startup"
                                        : "client disconnected mid-message during startup");
            co_return std::nullopt;
        }
        client_in_.commit(n);
        note_bytes_from_client(n);
    }
}

awaitable<void> Session::run() {
    pumps_running_ = 1;
    asio::co_spawn(executor_, [self = shared_from_this()] { return self->watch_startup(); }, asio::detached);

    int encryption_requests = 0;
    std::optional<wire::StartupMessage> startup;
    // Direct TLS (no SSLRequest first): only where TLS is on offer.
    bool tls_failed = false;
    const bool tls_on_offer = server_.tls().for_clients() && !client_over_unix_socket_;
    if (tls_on_offer && co_await starts_with_tls_handshake()) tls_failed = !co_await accept_client_tls(true);
    while (!startup && !tls_failed) {
        auto frame = co_await read_startup_frame();
        if (!frame) break;
        auto packet = wire::decode_startup_packet(*frame);
        if (!packet) {
            spdlog::warn("{} invalid startup packet: {}", prefix(), packet.error().message);
            set_final_client_message(fatal("08P01", "invalid startup packet: " + packet.error().message));
            note_end("invalid startup packet");
            break;
        }
        const std::size_t frame_size = frame->bytes.size();
        if (std::holds_alternative<wire::CancelRequest>(*packet)) {
            std::vector<std::uint8_t> bytes(frame->bytes.begin(), frame->bytes.end());
            client_in_.consume(frame_size);
            co_await forward_cancel(std::move(bytes));
            note_end("cancel request forwarded");
            break;
        }
        if (std::holds_alternative<wire::SslRequest>(*packet) ||
            std::holds_alternative<wire::GssEncRequest>(*packet)) {
            client_in_.consume(frame_size);
            // Bytes sent before our answer would be read as plaintext although the client
            // may believe them encrypted (CVE-2021-23214): refuse, as PostgreSQL does.
            if (!client_in_.empty() || ++encryption_requests > kMaxEncryptionRequests) {
                set_final_client_message(fatal("08P01", "unexpected data after encryption request"));
                note_end("protocol violation: data after encryption request");
                break;
            }
            if (client_.is_tls()) {
                set_final_client_message(fatal("08P01", "encryption request inside a TLS connection"));
                note_end("protocol violation: encryption request inside TLS");
                break;
            }
            const bool accept_tls = std::holds_alternative<wire::SslRequest>(*packet) && tls_on_offer;
            error_code ec;
            co_await client_.async_write(asio::buffer(accept_tls ? &kAcceptTls : &kRefuseEncryption, 1),
                                         asio::redirect_error(use_awaitable, ec));
            if (ec) {
                note_end("client disconnected during startup");
                break;
            }
            if (accept_tls && !co_await accept_client_tls(false)) break;
            continue;
        }
        startup = std::get<wire::StartupMessage>(std::move(*packet));
        user_ = std::string(startup->parameter("user"));
        auto database = startup->parameter("database");
        database_ = std::string(database.empty() ? startup->parameter("user") : database);
        guard_.set_role(user_);
        stats_->set_identity({user_, database_, client_.is_tls() ? client_.describe_tls() : "no", database_ == kAdminDatabase});
        if (!client_.is_tls() && !client_over_unix_socket_ &&
            server_.tls().settings().client_mode == ClientTlsMode::Require) {
            spdlog::info("{} refused plaintext client user={} database={}: --tls-mode require", prefix(), user_, database_);
            set_final_client_message(fatal("28000", "TLS is required: staleguard accepts only encrypted connections "
                                                    "(connect with sslmode=require or verify-full)"));
            note_end("plaintext client refused (--tls-mode require)");
            startup.reset();
            break;
        }
    }

    if (startup && over_capacity_) {
        spdlog::warn("{} refused: max-connections {} reached", prefix(), settings_.max_connections);
        set_final_client_message(fatal("53300", "sorry, too many clients already (staleguard max-connections " +
                                                    std::to_string(settings_.max_connections) + ")"));
        note_end("too many clients");
        startup.reset();
    }
    if (startup && database_ == kAdminDatabase) {
        co_await serve_admin_console(std::move(*startup));
        co_return;
    }
    if (startup && !co_await connect_upstream()) startup.reset();

    if (!startup) {
        co_await write_final_and_close_client();
        close_upstream();
        pump_finished();
        co_return;
    }

    // The startup packet goes to the server exactly as the client sent it, so that protocol
    // version negotiation and every parameter are the server's business.
    const auto startup_bytes = client_in_.readable().first(
        client_reader_.next(client_in_.readable(), wire::FramePhase::Startup).frame.bytes.size());
    error_code ec;
    co_await upstream_.async_write(asio::buffer(startup_bytes.data(), startup_bytes.size()),
                                   asio::redirect_error(use_awaitable, ec));
    client_in_.consume(startup_bytes.size());
    if (ec) {
        note_end("upstream write failed: " + describe(ec));
        set_final_client_message(fatal("08006", "lost connection to upstream server: " + describe(ec)));
        co_await write_final_and_close_client();
        close_upstream();
        pump_finished();
        co_return;
    }
    logged_open_ = true;
    server_.metrics().session_opened();
    spdlog::info("{} session opened user={} database={} client_tls={} upstream_tls={}", prefix(), user_, database_,
                 client_.describe_tls(), upstream_.describe_tls());

    ++pumps_running_;
    server_pump_running_ = true;
    asio::co_spawn(executor_, [self = shared_from_this()] { return self->pump_server_to_client(); },
                   asio::detached);
    co_await pump_client_to_server();
}

awaitable<bool> Session::connect_upstream(bool negotiate_tls) {
    const auto& target = settings_.upstream;
    error_code ec;
    asio::steady_timer deadline(executor_);
    deadline.expires_after(settings_.upstream_connect_timeout);
    // The handler may run after this frame is gone (a cancel that comes too late), so it shares
    // ownership of what it touches instead of referring to locals.
    auto timed_out = std::make_shared<bool>(false);
    deadline.async_wait([self = shared_from_this(), timed_out](const error_code& wait_ec) {
        if (wait_ec) return;
        *timed_out = true;
        error_code ignored;
        self->upstream_.close();
    });
    if (target.is_unix_socket()) {
        const asio::local::stream_protocol::endpoint path(target.socket_path());
        co_await upstream_.socket().async_connect(path, asio::redirect_error(use_awaitable, ec));
    } else {
        tcp::resolver resolver(executor_);
        auto resolved = co_await resolver.async_resolve(target.host, std::to_string(target.port),
                                                        asio::redirect_error(use_awaitable, ec));
        // The socket is protocol-generic: each address is converted to try them in turn.
        std::vector<asio::generic::stream_protocol::endpoint> endpoints;
        for (const auto& entry : resolved) endpoints.emplace_back(entry.endpoint());
        if (!ec)
            co_await asio::async_connect(upstream_.socket(), endpoints, asio::redirect_error(use_awaitable, ec));
    }
    std::optional<std::string> tls_failure;
    if (!ec && !*timed_out) {
        if (!target.is_unix_socket()) upstream_.socket().set_option(tcp::no_delay(true), ec);
        upstream_.socket().non_blocking(true, ec);
        // The deadline covers the TLS exchange too: a server that never answers it is as stuck.
        if (negotiate_tls) tls_failure = co_await negotiate_upstream_tls();
    }
    deadline.cancel();
    if (!ec && !*timed_out && !tls_failure) co_return true;
    std::string why = *timed_out ? "timed out" : tls_failure ? *tls_failure : describe(ec);
    server_.metrics().upstream_connect_failed();
    // As psql does, a socket is named by its file: that is what a wrong directory or port gets wrong.
    const std::string where =
        target.is_unix_socket() ? "on socket \"" + target.socket_path() + "\"" : target.to_string();
    spdlog::warn("{} could not connect to upstream {}: {}", prefix(), where, why);
    set_final_client_message(fatal("08006", "staleguard could not connect to upstream server " + where + ": " + why));
    note_end("upstream unreachable");
    co_return false;
}

awaitable<void> Session::forward_cancel(std::vector<std::uint8_t> packet) {
    // The client holds the server's own BackendKeyData, so the request goes upstream verbatim and
    // the server finds the backend (and checks the key) itself.
    if (!co_await connect_upstream(false)) {
        final_client_message_.reset();  // a cancel request never gets an answer
        co_return;
    }
    error_code ec;
    co_await upstream_.async_write(asio::buffer(packet), asio::redirect_error(use_awaitable, ec));
    spdlog::debug("{} cancel request forwarded{}", prefix(), ec ? ": " + describe(ec) : "");
    close_upstream();
}

awaitable<void> Session::pump_client_to_server() {
    OutgoingBatch batch;
    for (;;) {
        auto data = client_in_.readable();
        std::size_t offset = 0;
        bool stop = false;
        std::size_t want = 1;
        while (offset < data.size()) {
            auto outcome = client_reader_.next(data.subspan(offset), wire::FramePhase::Tagged);
            if (outcome.needs_more()) {
                if (outcome.needed > 0) want = outcome.needed - (data.size() - offset);
                break;
            }
            if (outcome.is_error()) {
                fail_protocol(outcome.error);
                stop = true;
                break;
            }
            const auto& frame = outcome.frame;
            if (auto valid = wire::validate_frontend_frame(frame); !valid) {
                fail_protocol(valid.error().message);
                stop = true;
                break;
            }
            spdlog::trace("{} client → {} ({} bytes)", prefix(), wire::frontend_tag_name(frame.tag), frame.bytes.size());
            const std::size_t next = offset + frame.bytes.size();
            const char next_tag = next < data.size() ? static_cast<char>(data[next]) : '\0';
            const bool statement = begin_statement(frame.tag);
            const bool handled = co_await handle_client_frame(frame, next_tag, batch);
            if (statement) finish_statement();
            if (!handled) {
                stop = true;
                break;
            }
            offset += frame.bytes.size();
            if (frame.tag == 'X') {
                note_end("client terminated");
                stop = true;
                break;
            }
        }
        // Everything decided for this read goes upstream in one gather-write; forwarded frames are
        // views into the read buffer, so it is consumed only afterwards.
        const bool written = co_await flush_upstream(batch);
        client_in_.consume(offset);
        if (!written || stop) {
            if (!end_reason_.empty() && end_reason_.starts_with("protocol violation")) close_upstream();
            break;
        }
        client_in_.shrink_to(settings_.read_chunk);
        error_code ec;
        std::size_t n = co_await client_.read_some(as_buffer(client_in_.prepare(std::max(want, settings_.read_chunk))), ec);
        if (ec) {
            note_end(client_in_.empty() ? "client disconnected" : "client disconnected mid-message");
            close_upstream();
            break;
        }
        client_in_.commit(n);
        note_bytes_from_client(n);
    }
    if (!server_pump_running_) {
        co_await write_final_and_close_client();
        close_upstream();
    }
    pump_finished();
}

std::uint64_t Session::record_upstream(char tag, ResponseRoute route) {
    const std::uint64_t correlation = next_correlation_++;
    conversation_.on_frontend(tag, correlation);
    if (!route.is_plain()) routes_.emplace(correlation, std::move(route));
    return correlation;
}

void Session::send(OutgoingBatch& batch, char tag, std::vector<std::uint8_t> bytes, ResponseRoute route) {
    record_upstream(tag, std::move(route));
    batch.add_owned(std::move(bytes));
}

void Session::forward(OutgoingBatch& batch, const wire::Frame& frame, ResponseRoute route) {
    record_upstream(frame.tag, std::move(route));
    batch.add_view(frame.bytes);
}

awaitable<bool> Session::flush_upstream(OutgoingBatch& batch) {
    if (batch.empty()) co_return true;
    error_code ec;
    co_await upstream_.async_write(batch.buffers(), asio::redirect_error(use_awaitable, ec));
    batch.clear();
    if (ec) {
        note_end("upstream write failed: " + describe(ec));
        co_return false;
    }
    co_return true;
}

awaitable<void> Session::wait_for_server(const std::function<bool()>& done) {
    while (!done() && server_pump_running_) {
        client_pump_waiting_ = true;
        wake_timer_.expires_at(asio::steady_timer::time_point::max());
        error_code ec;
        co_await wake_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
        client_pump_waiting_ = false;
    }
}

awaitable<bool> Session::handle_client_frame(const wire::Frame& frame, char next_tag, OutgoingBatch& batch) {
    const bool alone = since_sync_.empty();
    switch (frame.tag) {
        case 'Q': {
            since_sync_.on_query();
            if (conversation_.server_skips_to_sync()) break;  // discarded unanswered, as for 'E' below
            const auto rewriter = current_rules();
            if (rewriter->rules().empty()) break;
            const auto query = wire::Query::decode(frame).value();
            if (!guard_.may_act_on(*rewriter, query.sql)) {
                guard_.on_query_forwarded();
                break;
            }
            if (!co_await flush_upstream(batch)) co_return false;
            co_await look_up_schemas(*rewriter, query.sql);
            auto plan = guard_.plan_query(*rewriter, query.sql);
            switch (plan.kind) {
                case QueryPlan::Kind::Forward:
                    forward(batch, frame);
                    co_return true;
                case QueryPlan::Kind::Replace: {
                    set_statement_outcome(plan.replacement_error ? StatementOutcome::Rejected
                                          : plan.tracked        ? StatementOutcome::Tracked
                                                                : StatementOutcome::Rewritten);
                    if (settings_.log_statements) spdlog::debug("{} rewrote query: {} => {}", prefix(), query.sql, plan.sql);
                    auto route = ResponseRoute::error_replaced_by(std::move(plan.replacement_error));
                    route.drop_position = true;
                    route.rewritten_texts = std::make_shared<const ResponseRoute::Texts>(
                        ResponseRoute::Texts{std::string(query.sql), plan.sql});
                    route.tracked = std::move(plan.tracked);
                    send(batch, 'Q', wire::Query{plan.sql}.encode(), std::move(route));
                    co_return true;
                }
                case QueryPlan::Kind::Translate:
                    set_statement_outcome(std::any_of(plan.statements.begin(), plan.statements.end(),
                                                      [](const StatementPlan& p) { return p.tracked != nullptr; })
                                              ? StatementOutcome::Tracked
                                              : StatementOutcome::Rewritten);
                    if (settings_.log_statements) {
                        for (const auto& statement : plan.statements) {
                            if (!statement.offset_in_query)
                                spdlog::debug("{} rewrote query: {} => {}", prefix(), query.sql, statement.sql);
                        }
                    }
                    co_await run_translated(plan, query.sql, alone, batch);
                    co_return true;
            }
            break;
        }
        case 'P': {
            const auto rewriter = current_rules();
            const auto parse = wire::Parse::decode(frame).value();
            since_sync_.on_parse(parse);
            // Skipped by the server after an earlier error of this batch: the name keeps its meaning.
            if (conversation_.server_skips_to_sync()) break;
            if (rewriter->rules().empty() || !guard_.may_act_on(*rewriter, parse.query)) {
                guard_.note_statement_change(parse.statement, next_correlation_);
                guard_.on_parse_forwarded(parse.statement);
                break;
            }
            if (!co_await flush_upstream(batch)) co_return false;
            co_await look_up_schemas(*rewriter, parse.query);
            // Nothing goes upstream between here and the Parse itself: it gets this correlation.
            guard_.note_statement_change(parse.statement, next_correlation_);
            auto plan = guard_.plan_parse(*rewriter, parse);
            set_statement_outcome(plan.replacement_error ? StatementOutcome::Rejected
                                  : plan.tracked         ? StatementOutcome::Tracked
                                  : plan.sql             ? StatementOutcome::Rewritten
                                                         : StatementOutcome::Passed);
            if (!plan.sql) break;
            if (settings_.log_statements) {
                spdlog::debug("{} rewrote statement \"{}\": {} => {}", prefix(), parse.statement, parse.query, *plan.sql);
            }
            auto route = ResponseRoute::error_replaced_by(std::move(plan.replacement_error));
            route.drop_position = true;
            route.rewritten_texts = std::make_shared<const ResponseRoute::Texts>(
                ResponseRoute::Texts{std::string(parse.query), *plan.sql});
            send(batch, 'P', wire::Parse{parse.statement, *plan.sql, parse.parameter_types}.encode(), std::move(route));
            co_return true;
        }
        case 'B': {
            const auto rewriter = current_rules();
            const auto bind = wire::Bind::decode(frame).value();
            since_sync_.on_bind(bind);
            auto plan = guard_.on_bind(*rewriter, frame, bind);
            if (plan.replacement_error) {
                // The Bind fails on the server too, so that it skips to the client's Sync.
                wire::Bind refuse;
                refuse.statement = kMissingStatement;
                send(batch, 'B', refuse.encode(), ResponseRoute::error_replaced_by(std::move(plan.replacement_error)));
                co_return true;
            }
            if (plan.bind) {
                send(batch, 'B', std::move(*plan.bind));
                co_return true;
            }
            break;
        }
        case 'C': {
            const auto close = wire::Close::decode(frame).value();
            since_sync_.on_close(close);
            if (conversation_.server_skips_to_sync()) break;
            if (close.kind == wire::ObjectKind::Statement) guard_.note_statement_change(close.name, next_correlation_);
            guard_.on_close(close);
            break;
        }
        case 'D': {
            auto plan = guard_.on_describe(wire::Describe::decode(frame).value());
            if (!plan.tracked && !plan.visible_parameters && !plan.parameter_types_to_learn) break;
            ResponseRoute route;
            route.tracked = std::move(plan.tracked);
            route.visible_parameters = plan.visible_parameters;
            route.parameter_types_to_learn = std::move(plan.parameter_types_to_learn);
            forward(batch, frame, std::move(route));
            co_return true;
        }
        case 'E': {
            auto execute = wire::Execute::decode(frame).value();
            since_sync_.on_execute(execute);
            auto plan = guard_.on_execute(execute);
            if (!plan.check && !plan.tracked) break;
            // The server skips it (an earlier request of this batch failed): no verdict will come,
            // and waiting for one would stop this pump before the client's Sync.
            if (conversation_.server_skips_to_sync()) break;
            const bool verdict_needed = needs_verdict(plan.check, plan.tracked.get());
            const bool settle_at_sync = verdict_needed && next_tag == 'S' && alone &&
                                        stale_changes_nothing(plan.check, plan.tracked.get());
            // A row limit would suspend a write whose only rows are staleguard's RETURNING
            // (pgjdbc sends one), or a checked write's own RETURNING (pgjdbc's fetch size in a
            // transaction): its CommandComplete, and so the verdict, must come now. A client that
            // closed the portal after its first rows would otherwise commit a multi-row write
            // whose stale rows were silently skipped. PostgreSQL has run the whole write at the
            // first Execute anyway; the client gets every row at once, as without a limit.
            const bool unlimit = plan.tracked && plan.tracked->is_write && execute.max_rows != 0 &&
                                 (!plan.tracked->client_sees_rows || verdict_needed);
            ResponseRoute route = ResponseRoute::checked(std::move(plan.check));
            route.tracked = std::move(plan.tracked);
            const std::uint64_t correlation = record_upstream('E', std::move(route));
            if (unlimit) {
                // Run to its end now: a further Execute of the portal (pipelined behind this one)
                // gets no rows and must not be judged again.
                guard_.forget_portal(execute.portal);
                execute.max_rows = 0;
                batch.add_owned(execute.encode());
            } else {
                batch.add_view(frame.bytes);
            }
            if (settle_at_sync) write_awaiting_sync_ = correlation;
            else if (verdict_needed) co_await check_write(correlation, batch);
            co_return true;
        }
        case 'S':
            since_sync_.on_sync();
            if (write_awaiting_sync_) {
                const std::uint64_t write = *write_awaiting_sync_;
                write_awaiting_sync_.reset();
                co_await sync_then_settle(write, batch);
                co_return true;
            }
            break;
        default:
            break;
    }
    forward(batch, frame);
    co_return true;
}

const std::shared_ptr<const parser::Rewriter>& Session::current_rules() {
    const std::uint64_t generation = server_.rules().generation();
    if (!rewriter_ || generation != rules_generation_) {
        rewriter_ = server_.rules().current();
        rules_generation_ = generation;
    }
    return rewriter_;
}

awaitable<bool> Session::check_write(std::uint64_t correlation, OutgoingBatch& batch) {
    // The server holds its answer until Sync or Flush; the verdict must come before the Sync.
    statement_queued();
    batch.add_owned(wire::Flush{}.encode());
    if (!co_await flush_upstream(batch)) co_return false;
    co_await wait_for_server([&] { return verdict_known(correlation); });
    co_await recheck_rows_left_alone(correlation, batch);
    if (!stale_verdict_for(correlation)) co_return false;
    raise_stale_write(batch);
    co_return true;
}

bool Session::verdict_known(std::uint64_t correlation) const {
    return (verdict_ && verdict_->correlation == correlation) || !routes_.contains(correlation);
}

bool Session::stale_verdict_for(std::uint64_t correlation) const {
    return verdict_ && verdict_->correlation == correlation && verdict_->stale;
}

awaitable<void> Session::sync_then_settle(std::uint64_t correlation, OutgoingBatch& batch) {
    ResponseRoute sync_route;
    sync_route.ready_held_if_stale = correlation;
    send(batch, 'S', wire::Sync{}.encode(), std::move(sync_route));
    co_await settle_after_the_fact(correlation, batch);
}

awaitable<void> Session::settle_after_the_fact(std::uint64_t correlation, OutgoingBatch& batch) {
    statement_queued();
    if (!co_await flush_upstream(batch)) co_return;
    co_await wait_for_server([&] { return verdict_known(correlation); });
    // The write's ReadyForQuery was held back while it looked stale; the re-read then runs in a
    // transaction of its own (or the client's block), which the Sync below ends either way.
    const bool rechecked = co_await recheck_rows_left_alone(correlation, batch);
    if (!stale_verdict_for(correlation)) {
        if (rechecked) send(batch, 'S', wire::Sync{}.encode());
        co_return;
    }
    raise_stale_write(batch);
    send(batch, 'S', wire::Sync{}.encode());
}

awaitable<bool> Session::recheck_rows_left_alone(std::uint64_t correlation, OutgoingBatch& batch) {
    if (!verdict_ || verdict_->correlation != correlation || !verdict_->recheck) co_return false;
    const TrackCheck& check = *verdict_->recheck->tracked->check;
    // Named, so that the client's unnamed statement and portal survive it.
    constexpr std::string_view name = "staleguard: recheck";
    const std::string sql = current_versions_query(*check.rule, verdict_->recheck->candidates);
    send(batch, 'P', wire::Parse{name, sql, {}}.encode(), ResponseRoute::completion_hidden());
    wire::Bind bind;
    bind.portal = name;
    bind.statement = name;
    send(batch, 'B', bind.encode(), ResponseRoute::completion_hidden());
    ResponseRoute route;
    route.recheck = true;
    const std::uint64_t execute = record_upstream('E', std::move(route));
    batch.add_owned(wire::Execute{name, 0}.encode());
    send(batch, 'C', wire::Close{wire::ObjectKind::Portal, name}.encode(), ResponseRoute::completion_hidden());
    send(batch, 'C', wire::Close{wire::ObjectKind::Statement, name}.encode(), ResponseRoute::completion_hidden());
    batch.add_owned(wire::Flush{}.encode());
    if (!co_await flush_upstream(batch)) co_return true;
    co_await wait_for_server([&] { return !routes_.contains(execute); });
    co_return true;
}

void Session::route_recheck_frame(const wire::Frame& frame, bool& pass,
                                  std::optional<std::vector<std::uint8_t>>& replacement) {
    pass = false;
    if (!verdict_ || !verdict_->recheck) return;
    Verdict::Recheck& recheck = *verdict_->recheck;
    switch (frame.tag) {
        case 'D': {
            auto row = wire::DataRow::decode(frame);
            const std::size_t keys = recheck.candidates.front().keys.size();
            if (!row || row->columns.size() != keys + 1) return;
            ReturnedRow current;
            for (std::size_t i = 0; i <= keys; ++i) {
                if (!row->columns[i]) return;  // a NULL key or version cannot be the one read
                if (i < keys) current.keys.push_back(text_of(*row->columns[i]));
                else current.version = text_of(*row->columns[i]);
            }
            recheck.current.push_back(std::move(current));
            return;
        }
        case 'C': {
            auto stale = changed_rows(recheck.candidates, recheck.current);
            if (stale.empty()) {
                // Passed over (by the rest of the WHERE, a trigger), not changed: the write stands.
                verdict_->stale = false;
                guard_.apply_write(*recheck.tracked, recheck.returned);
                replacement = std::move(recheck.completion);
            } else if (stale.size() != recheck.candidates.size()) {
                describe_track_stale(*recheck.tracked->check, stale);
            }
            verdict_->recheck.reset();
            return;
        }
        case 'E':
            // The re-read failed (and with it the transaction): the client learns of the stale
            // write in its place, as it would have without the re-read.
            replacement = verdict_->error;
            verdict_->shown = true;
            verdict_->recheck.reset();
            return;
        default:
            return;
    }
}

void Session::describe_track_stale(const TrackCheck& check, const std::vector<SeenRow>& stale) {
    const std::size_t current = check.seen.size() - stale.size();
    const auto error = track_stale_error(check, stale, current);
    verdict_->what = std::string(error.get(wire::field::Message));
    verdict_->table = check.rule ? check.rule->table.to_string() : std::string();
    verdict_->error = error.encode();
}

void Session::raise_stale_write(OutgoingBatch& batch) {
    spdlog::info("{} {} user={} database={}", prefix(), verdict_->what, user_, database_);
    note_stale_write(verdict_->table);
    // A failed re-read has shown the error already and left the server skipping to the Sync.
    if (verdict_->shown) return;
    wire::Bind raise;
    raise.statement = kMissingStatement;
    send(batch, 'B', raise.encode(), ResponseRoute::error_replaced_by(std::move(verdict_->error)));
}

awaitable<void> Session::run_translated(const QueryPlan& plan, std::string_view original_sql, bool alone,
                                        OutgoingBatch& batch) {
    // Errors carry positions within the statement sent: moved back into the client's string, or
    // mapped through the rewrite.
    auto positioned = [&](const StatementPlan& statement, ResponseRoute route,
                          std::shared_ptr<const ResponseRoute::Texts>& texts) {
        if (statement.offset_in_query) {
            route.position_shift = static_cast<std::int64_t>(*statement.offset_in_query);
        } else {
            if (!texts) texts = std::make_shared<const ResponseRoute::Texts>(ResponseRoute::Texts{std::string(original_sql), statement.sql});
            route.drop_position = true;
            route.rewritten_texts = texts;
        }
        return route;
    };
    if (alone && plan.statements.size() == 1 &&
        stale_changes_nothing(plan.statements.front().check, plan.statements.front().tracked.get())) {
        // Nothing to roll back when stale: the statement goes as one Query, judged after the fact.
        const StatementPlan& statement = plan.statements.front();
        std::shared_ptr<const ResponseRoute::Texts> texts;
        ResponseRoute route = positioned(statement, ResponseRoute::checked(statement.check), texts);
        route.tracked = statement.tracked;
        route.ready_held_if_stale = next_correlation_;  // the Query's own ReadyForQuery
        const std::uint64_t correlation = record_upstream('Q', std::move(route));
        batch.add_owned(wire::Query{statement.sql}.encode());
        co_await settle_after_the_fact(correlation, batch);
        co_return;
    }
    // Otherwise the statements run as one extended-protocol batch: one implicit transaction, as
    // the simple protocol gives, but with a point after each checked statement at which the proxy
    // can still make the server fail the whole batch.
    for (const auto& statement : plan.statements) {
        std::shared_ptr<const ResponseRoute::Texts> texts;
        send(batch, 'P', wire::Parse{"", statement.sql, {}}.encode(),
             positioned(statement, ResponseRoute::completion_hidden(), texts));
        send(batch, 'B', wire::Bind{}.encode(), ResponseRoute::completion_hidden());
        auto describe_route = ResponseRoute::no_data_hidden();
        describe_route.tracked = statement.tracked;
        send(batch, 'D', wire::Describe{wire::ObjectKind::Portal, ""}.encode(), std::move(describe_route));
        auto execute_route = positioned(statement, ResponseRoute::checked(statement.check), texts);
        execute_route.tracked = statement.tracked;
        const bool verdict_needed = needs_verdict(statement.check, statement.tracked.get());
        const std::uint64_t correlation = record_upstream('E', std::move(execute_route));
        batch.add_owned(wire::Execute{}.encode());
        if (!verdict_needed) continue;
        co_await check_write(correlation, batch);
        // Stale, or failed on its own: the server skips the rest of the batch either way.
        if (!verdict_ || verdict_->correlation != correlation || verdict_->stale) break;
    }
    send(batch, 'S', wire::Sync{}.encode());
}

awaitable<void> Session::look_up_schemas(const parser::Rewriter& rewriter, std::string_view sql) {
    // Only a server at rest can be asked without the client noticing; otherwise the guard falls
    // back on the search_path it has followed.
    if (!conversation_.at_rest() || conversation_.transaction_status() == wire::TransactionStatus::Failed)
        co_return;
    auto names = guard_.names_to_look_up(rewriter, sql);
    if (names.empty()) co_return;
    std::string list;
    for (const auto& name : names) {
        if (!list.empty()) list += ", ";
        list += parser::escaped_string_literal(name);
    }
    const std::string lookup =
        "SELECT x.name, n.nspname FROM pg_catalog.unnest(ARRAY[" + list +
        "]::pg_catalog.text[]) AS x(name) LEFT JOIN pg_catalog.pg_class c ON c.oid = "
        "pg_catalog.to_regclass(pg_catalog.quote_ident(x.name)) LEFT JOIN pg_catalog.pg_namespace n ON "
        "n.oid = c.relnamespace";
    OutgoingBatch batch;
    const std::uint64_t correlation = record_upstream('Q', ResponseRoute::internal());
    batch.add_owned(wire::Query{lookup}.encode());
    if (!co_await flush_upstream(batch)) co_return;
    co_await wait_for_server([&] { return !routes_.contains(correlation); });
    for (const auto& name : names)
        if (!guard_.search_path_known_for(name)) guard_.remember_lookup(name, std::nullopt);
}

awaitable<void> Session::pump_server_to_client() {
    OutgoingBatch batch;
    for (;;) {
        auto data = server_in_.readable();
        std::size_t offset = 0;
        bool broken = false;
        bool at_rest_after_write = false;
        std::size_t want = 1;
        while (offset < data.size()) {
            auto outcome = server_reader_.next(data.subspan(offset), wire::FramePhase::Tagged);
            if (outcome.needs_more()) {
                if (outcome.needed > 0) want = outcome.needed - (data.size() - offset);
                break;
            }
            if (outcome.is_error() || !wire::is_backend_tag(outcome.frame.tag)) {
                std::string why = outcome.is_error() ? outcome.error : "unknown message type from server";
                spdlog::error("{} invalid message from server: {}", prefix(), why);
                set_final_client_message(fatal("08P01", "staleguard received an invalid message from the server"));
                note_end("invalid message from server");
                broken = true;
                break;
            }
            const auto& frame = outcome.frame;
            spdlog::trace("{} server → {} ({} bytes)", prefix(), wire::backend_tag_name(frame.tag), frame.bytes.size());
            if (frame.tag == 'E' && is_fatal_error(frame)) server_sent_fatal_ = true;
            const bool was_complete = conversation_.startup_complete();
            route_server_frame(frame, batch);
            if (!was_complete && conversation_.startup_complete()) startup_timer_.cancel();
            offset += frame.bytes.size();
            if (frame.tag == 'Z' && shutting_down_ && conversation_.at_rest() && !ready_held_) {
                at_rest_after_write = true;
                break;
            }
        }
        if (client_pump_waiting_) wake_timer_.cancel();
        if (!batch.empty()) {
            error_code ec;
            co_await client_.async_write(batch.buffers(), asio::redirect_error(use_awaitable, ec));
            batch.clear();
            if (ec) {
                server_in_.consume(offset);
                note_end("client write failed: " + describe(ec));
                close_upstream();
                break;
            }
        }
        server_in_.consume(offset);
        if (broken) break;
        if (at_rest_after_write) {
            end_at_rest();
            break;
        }
        server_in_.shrink_to(settings_.read_chunk);
        error_code ec;
        std::size_t n = co_await upstream_.read_some(as_buffer(server_in_.prepare(std::max(want, settings_.read_chunk))), ec);
        if (ec) {
            if (conversation_.state() != ConversationState::Terminated && !server_sent_fatal_ &&
                end_reason_.empty()) {
                set_final_client_message(fatal("08006", "server closed the connection unexpectedly"));
                spdlog::warn("{} server closed the connection: {}", prefix(), describe(ec));
            }
            note_end(server_sent_fatal_ ? "server ended the session" : "server closed the connection");
            break;
        }
        server_in_.commit(n);
        note_bytes_from_server(n);
    }
    close_upstream();
    server_pump_running_ = false;
    wake_timer_.cancel();
    co_await write_final_and_close_client();
    pump_finished();
}

}  // namespace staleguard::session

namespace staleguard::session {

namespace {

// The server's ErrorResponse with its position moved into the client's text (or dropped).
std::optional<std::vector<std::uint8_t>> with_client_position(const wire::Frame& frame, const ResponseRoute& route) {
    auto error = wire::ErrorResponse::decode(frame);
    if (!error) return std::nullopt;
    auto& fields = error->fields;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
        if (it->first != wire::field::Position) continue;
        if (route.drop_position) {
            std::optional<std::size_t> mapped;
            if (route.rewritten_texts) {
                std::size_t position = 0;
                for (char c : it->second) position = position * 10 + (c >= '0' && c <= '9' ? static_cast<std::size_t>(c - '0') : 0);
                mapped = parser::map_error_position(route.rewritten_texts->original, route.rewritten_texts->sent, position);
            }
            if (mapped) it->second = std::to_string(*mapped);
            else fields.erase(it);
        } else {
            std::int64_t position = 0;
            for (char c : it->second) position = position * 10 + (c >= '0' && c <= '9' ? c - '0' : 0);
            it->second = std::to_string(position + route.position_shift);
        }
        break;
    }
    return error->encode();
}

}  // namespace

bool Session::route_tracked_frame(const wire::Frame& frame, ResponseRoute& route, std::uint64_t correlation,
                                  OutgoingBatch& batch) {
    const TrackedResult& tracked = *route.tracked;
    switch (frame.tag) {
        case 't': {
            if (!route.visible_parameters) return true;
            auto description = wire::ParameterDescription::decode(frame);
            if (!description) return true;
            if (description->type_oids.size() > *route.visible_parameters) description->type_oids.resize(*route.visible_parameters);
            batch.add_owned(description->encode());
            return false;
        }
        case 'T': {
            if (!tracked.client_sees_rows) {
                // The client's statement yields no rows: a Describe of it answers NoData.
                const bool describe = !conversation_.pending().empty() &&
                                      conversation_.pending().front().kind == PendingRequest::Kind::Describe;
                if (describe && !route.hide_no_data) batch.add_owned(wire::NoData{}.encode());
                return false;
            }
            auto stripped = strip_row_description(frame, tracked.layout);
            if (!stripped) {
                spdlog::warn("{} cannot strip hidden columns from a row description: {}", prefix(), stripped.error().message);
                return true;
            }
            batch.add_owned(std::move(stripped).value());
            return false;
        }
        case 'D': {
            auto split = split_data_row(frame, tracked.layout, tracked_rows_);
            if (!split) {
                spdlog::warn("{} cannot strip hidden columns from a row: {}", prefix(), split.error().message);
                return true;
            }
            if (tracked.is_write) {
                // Without a verdict to reach, each row is learnt as it comes (an unkeyed write
                // can return millions); the journal puts them back if the statement fails.
                const bool learn_now = !tracked.check && tracked.moved_from.empty();
                std::vector<ReturnedRow> now;
                std::vector<ReturnedRow>& rows = learn_now ? now : route.returned;
                for (const TrackedRow& row : tracked_rows_)
                    rows.push_back(ReturnedRow{std::vector<std::string>(row.keys.begin(), row.keys.end()),
                                               std::string(row.version)});
                if (learn_now) guard_.apply_write(tracked, now);
            } else {
                guard_.remember_read(tracked.layout, tracked_rows_);
            }
            if (tracked.client_sees_rows) {
                batch.add_owned(std::vector<std::uint8_t>(split->header.begin(), split->header.end()));
                batch.add_view(split->visible_columns);
            }
            return false;
        }
        case 'C': {
            if (!tracked.is_write) return true;
            if (tracked.written_if_one_row && route.returned.empty()) {
                // Sent without its RETURNING: every row it changed had the version read, and now
                // has that + 1 (more than one row only where the key is not unique).
                const auto complete = wire::CommandComplete::decode(frame);
                if (complete && complete->row_count().value_or(0) > 0) route.returned.push_back(*tracked.written_if_one_row);
            }
            if (tracked.check) {
                auto stale = stale_rows(*tracked.check, route.returned);
                verdict_ = Verdict{correlation, !stale.empty(), {}, {}, {}, {}, false};
                if (!stale.empty()) {
                    // Stale only if their versions changed: the write's CommandComplete waits
                    // for a fresh read of them.
                    describe_track_stale(*tracked.check, stale);
                    verdict_->recheck = Verdict::Recheck{route.tracked, std::move(stale), route.returned,
                                                         std::vector<std::uint8_t>(frame.bytes.begin(), frame.bytes.end()),
                                                         {}};
                    return false;
                }
            }
            guard_.apply_write(tracked, route.returned);
            return true;
        }
        default:
            return true;
    }
}

std::vector<std::uint64_t> Session::failed_or_skipped_requests() const {
    // An error answers the oldest request; the server then skips the rest of its batch, up to
    // the Sync. The error of a simple Query or a FunctionCall skips nothing.
    std::vector<std::uint64_t> out;
    const auto& pending = conversation_.pending();
    if (pending.empty() || pending.front().kind == PendingRequest::Kind::Query ||
        pending.front().kind == PendingRequest::Kind::FunctionCall)
        return out;
    for (const PendingRequest& request : pending) {
        if (request.kind == PendingRequest::Kind::Sync || request.kind == PendingRequest::Kind::Query) break;
        out.push_back(request.correlation);
    }
    return out;
}

void Session::route_server_frame(const wire::Frame& frame, OutgoingBatch& batch) {
    // A response belongs to the oldest outstanding request; asynchronous messages to nobody.
    const bool asynchronous = frame.tag == 'A' || frame.tag == 'N' || frame.tag == 'S';
    ResponseRoute* route = nullptr;
    std::uint64_t front_correlation = 0;
    if (!asynchronous && !conversation_.pending().empty()) {
        front_correlation = conversation_.pending().front().correlation;
        if (auto found = routes_.find(front_correlation); found != routes_.end()) route = &found->second;
    }
    bool pass = true;
    std::optional<std::vector<std::uint8_t>> replacement;
    if (route && frame.tag == 't' && route->parameter_types_to_learn) {
        if (auto description = wire::ParameterDescription::decode(frame))
            learn_parameter_types(*route->parameter_types_to_learn, description->type_oids);
    }
    if (route) {
        if (frame.tag == 'Z' && route->ready_held_if_stale != 0) {
            pass = !stale_verdict_for(route->ready_held_if_stale);
            ready_held_ = !pass;
        } else if (route->hide_everything) {
            pass = false;
            if (frame.tag == 'D') {
                if (auto row = wire::DataRow::decode(frame); row && row->columns.size() == 2 && row->columns[0]) {
                    guard_.remember_lookup(text_of(*row->columns[0]),
                                           row->columns[1] ? std::optional<std::string>(text_of(*row->columns[1]))
                                                           : std::nullopt);
                }
            }
        } else if (route->recheck) {
            route_recheck_frame(frame, pass, replacement);
        } else if ((frame.tag == '1' || frame.tag == '2' || frame.tag == '3') && route->hide_completion) {
            pass = false;
        } else if (frame.tag == 'n' && route->hide_no_data) {
            pass = false;
        } else if (frame.tag == 'E' && route->replacement_error) {
            replacement = *route->replacement_error;
        } else if (frame.tag == 'E' && (route->drop_position || route->position_shift != 0)) {
            replacement = with_client_position(frame, *route);
            // A rewritten statement that names a column or relation the server does not know
            // may have been resolved from an outdated lookup (a shadowing table created since):
            // learn the schemas again before the next statement.
            if (route->drop_position) {
                if (auto error = wire::ErrorResponse::decode(frame)) {
                    const auto code = error->get(wire::field::Code);
                    if (code == "42703" || code == "42P01" || code == "3F000") guard_.forget_schemas();
                }
            }
        } else if (frame.tag == 'C' && route->check) {
            const auto complete = wire::CommandComplete::decode(frame);
            const std::uint64_t rows = complete ? complete->row_count().value_or(0) : 0;
            const WriteCheck& check = *route->check;
            const bool stale = rows < check.expected_rows;
            verdict_ = Verdict{front_correlation, stale, {}, {}, {}, {}, false};
            if (stale) {
                verdict_->error = stale_write_error(check, rows).encode();
                verdict_->table = check.table;
                verdict_->what = fmt::format("stale write to {} ({})=({}): {} of {} row(s) matched", check.table,
                                             check.key_columns, check.key_values, rows, check.expected_rows);
            }
            // A stale write's CommandComplete never reaches the client: the error takes its place.
            if (stale) pass = false;
        } else if (route->tracked) {
            pass = route_tracked_frame(frame, *route, front_correlation, batch);
        }
    }
    if (frame.tag == 'E') guard_.undo_statement_changes(failed_or_skipped_requests());
    const BackendStep step = conversation_.on_backend(frame.tag, frame.payload);
    if (step.completed && (step.completed->kind == PendingRequest::Kind::Parse ||
                           step.completed->kind == PendingRequest::Kind::Close))
        guard_.on_statement_change_done(step.completed->correlation);
    if (frame.tag == 'S') {
        if (auto status = wire::ParameterStatus::decode(frame)) guard_.on_parameter_status(status->name, status->value);
    }
    // Whether the session's own writes committed: the ReadSet must not outlive a rollback.
    if (frame.tag == 'C') {
        if (auto complete = wire::CommandComplete::decode(frame)) guard_.on_command_complete(complete->tag);
    } else if (frame.tag == 'E') {
        guard_.on_server_error();
    }
    if (frame.tag == 'Z') {
        if (pass) ready_held_ = false;
        guard_.on_ready_for_query(conversation_.transaction_status());
        note_ready_for_query();
    }
    // Requests are answered in order: once one is done, every route up to it is finished.
    if (!routes_.empty() && !asynchronous) {
        const auto& pending = conversation_.pending();
        const std::uint64_t oldest_open = pending.empty() ? next_correlation_ : pending.front().correlation;
        routes_.erase(routes_.begin(), routes_.lower_bound(oldest_open));
    }
    // A TLS client would pick SCRAM-SHA-256-PLUS and bind to staleguard's certificate, which the
    // server checks against its own: unless they are the same certificate, the offer goes.
    if (frame.tag == 'R' && pass && !replacement && !channel_binding_passes_) replacement = without_channel_binding(frame);
    if (replacement) batch.add_owned(std::move(*replacement));
    else if (pass) batch.add_view(frame.bytes);
}

}  // namespace staleguard::session
