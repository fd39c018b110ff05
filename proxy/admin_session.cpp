// The admin console's session side: the login is relayed to PostgreSQL (database "postgres") so
// that it checks the password; then SHOW/RELOAD are answered here and the server is let go.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/admin_console.hpp"
#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/sasl_mechanisms.hpp"
#include "proxy/server.hpp"
#include "proxy/session.hpp"
#include "proxy/version_line.hpp"

namespace staleguard::session {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

// The database the login is checked against: every cluster has it, and an admin needs no rights in it.
constexpr std::string_view kAuthenticationDatabase = "postgres";

struct OwnedFrame {
    char tag = '\0';
    std::vector<std::uint8_t> bytes;

    wire::Frame view() const {
        const wire::Bytes all(bytes.data(), bytes.size());
        return wire::Frame{tag, all.subspan(std::min<std::size_t>(5, all.size())), all};
    }
};

struct FrameRead {
    std::optional<OwnedFrame> frame;
    std::string protocol_error;  // not empty: the stream is malformed (else EOF or a socket error)
};

// The next tagged frame from `socket`, copied out of `in` (admin traffic is tiny).
awaitable<FrameRead> read_tagged_frame(PeerStream& stream, ByteBuffer& in, const wire::FrameReader& reader,
                                       std::size_t chunk, std::atomic<std::uint64_t>* counter) {
    for (;;) {
        auto outcome = reader.next(in.readable(), wire::FramePhase::Tagged);
        if (outcome.is_frame()) {
            OwnedFrame frame{outcome.frame.tag, {outcome.frame.bytes.begin(), outcome.frame.bytes.end()}};
            in.consume(frame.bytes.size());
            co_return FrameRead{std::move(frame), {}};
        }
        if (outcome.is_error()) co_return FrameRead{std::nullopt, outcome.error};
        const std::size_t want = outcome.needed > in.size() ? outcome.needed - in.size() : 1;
        error_code ec;
        const std::size_t n = co_await stream.read_some(
            asio::buffer(in.prepare(std::max(want, chunk)).data(), std::max(want, chunk)), ec);
        if (ec) co_return FrameRead{};
        in.commit(n);
        if (counter) counter->fetch_add(n, std::memory_order_relaxed);
    }
}

// Authentication requests the client must answer with a PasswordMessage / SASL response ('p').
bool expects_client_response(wire::AuthenticationCode code) {
    using Code = wire::AuthenticationCode;
    switch (code) {
        case Code::CleartextPassword:
        case Code::Md5Password:
        case Code::Gss:
        case Code::GssContinue:
        case Code::Sspi:
        case Code::Sasl:
        case Code::SaslContinue:
            return true;
        default:
            return false;
    }
}

std::string state_name(SessionStats::State state) {
    switch (state) {
        case SessionStats::State::Startup: return "startup";
        case SessionStats::State::Idle: return "idle";
        case SessionStats::State::InTransaction: return "in transaction";
        case SessionStats::State::FailedTransaction: return "failed transaction";
        case SessionStats::State::Active: return "active";
    }
    return "?";
}

}  // namespace

asio::awaitable<void> Session::serve_admin_console(wire::StartupMessage startup) {
    // The startup packet is still in client_in_: it goes upstream rewritten, not as it came.
    client_in_.consume(client_reader_.next(client_in_.readable(), wire::FramePhase::Startup).frame.bytes.size());
    const auto& admins = settings_.admin_users;
    const auto write_client = [this](const std::vector<std::uint8_t>& bytes) -> awaitable<bool> {
        error_code ec;
        co_await client_.async_write(asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
        co_return !ec;
    };
    const auto finish = [this]() -> awaitable<void> {
        co_await write_final_and_close_client();
        close_upstream();
        pump_finished();
    };

    if (std::find(admins.begin(), admins.end(), user_) == admins.end()) {
        // As pgbouncer: the role is named, nothing is said about who else may connect.
        spdlog::warn("{} admin console refused: user {} is not in --admin-users", prefix(), user_);
        set_final_client_message(fatal("28000", "no such user in --admin-users: \"" + user_ + "\""));
        note_end("admin console: user not allowed");
        co_await finish();
        co_return;
    }
    if (!co_await connect_upstream()) {
        co_await finish();
        co_return;
    }

    // PostgreSQL checks the password: the same login, to a database every cluster has.
    bool database_given = false;
    for (auto& [name, value] : startup.parameters) {
        if (name == "database") {
            value = std::string(kAuthenticationDatabase);
            database_given = true;
        }
    }
    if (!database_given) startup.parameters.emplace_back("database", std::string(kAuthenticationDatabase));
    {
        error_code ec;
        const auto packet = startup.encode();
        co_await upstream_.async_write(asio::buffer(packet), asio::redirect_error(use_awaitable, ec));
        if (ec) {
            note_end("upstream write failed: " + ec.message());
            set_final_client_message(fatal("08006", "lost connection to upstream server: " + ec.message()));
            co_await finish();
            co_return;
        }
    }

    // The authentication exchange, relayed message by message until the server is ready.
    bool authenticated = false;
    bool ready = false;
    while (!ready) {
        auto from_server = co_await read_tagged_frame(upstream_, server_in_, server_reader_, settings_.read_chunk, nullptr);
        if (!from_server.frame) {
            note_end("server closed the connection during admin authentication");
            set_final_client_message(fatal("08006", "server closed the connection during authentication"));
            break;
        }
        const OwnedFrame& frame = *from_server.frame;
        bool forward = true;
        bool answer_needed = false;
        switch (frame.tag) {
            case 'R': {
                const auto request = wire::Authentication::decode(frame.view());
                if (request && request->code == wire::AuthenticationCode::Ok) authenticated = true;
                answer_needed = request && expects_client_response(request->code);
                break;
            }
            case 'K':  // the server's cancel key: the client never talks to that backend
                forward = false;
                break;
            case 'Z':
                forward = false;
                ready = authenticated;
                break;
            case 'S':
            case 'N':
            case 'E':
            case 'v':
                break;
            default:
                forward = false;
                spdlog::warn("{} unexpected message '{}' from server during admin authentication", prefix(), frame.tag);
                break;
        }
        // As in ordinary sessions: SCRAM-SHA-256-PLUS would bind to a certificate the client never sees.
        std::optional<std::vector<std::uint8_t>> stripped;
        if (frame.tag == 'R' && !channel_binding_passes_) stripped = without_channel_binding(frame.view());
        if (forward && !co_await write_client(stripped ? *stripped : frame.bytes)) {
            note_end("client disconnected during admin authentication");
            break;
        }
        if (forward) stats_->bytes_out.fetch_add(frame.bytes.size(), std::memory_order_relaxed);
        if (frame.tag == 'E') {
            // 28P01 and friends: PostgreSQL's own words reached the client; it ends the login.
            note_end("admin authentication failed");
            break;
        }
        if (frame.tag == 'Z' && !authenticated) {
            note_end("server ready without authentication");
            break;
        }
        if (!answer_needed) continue;
        auto from_client = co_await read_tagged_frame(client_, client_in_, client_reader_, settings_.read_chunk, &stats_->bytes_in);
        if (!from_client.frame) {
            if (!from_client.protocol_error.empty()) fail_protocol(from_client.protocol_error);
            else note_end("client disconnected during admin authentication");
            break;
        }
        if (from_client.frame->tag != 'p') {
            fail_protocol("expected a password message during authentication");
            break;
        }
        error_code ec;
        co_await upstream_.async_write(asio::buffer(from_client.frame->bytes), asio::redirect_error(use_awaitable, ec));
        if (ec) {
            note_end("upstream write failed: " + ec.message());
            break;
        }
    }
    if (!ready) {
        co_await finish();
        co_return;
    }
    // The server's part is done: it says goodbye, and the console is ours.
    startup_timer_.cancel();
    {
        error_code ec;
        const auto terminate = wire::Terminate{}.encode();
        co_await upstream_.async_write(asio::buffer(terminate), asio::redirect_error(use_awaitable, ec));
        close_upstream();
    }
    spdlog::info("{} admin console opened user={}", prefix(), user_);
    stats_->state.store(SessionStats::State::Idle, std::memory_order_relaxed);
    const auto ready_for_query = wire::ReadyForQuery{wire::TransactionStatus::Idle}.encode();
    if (!co_await write_client(ready_for_query)) note_end("client disconnected");

    // Extended-protocol messages are refused once, then skipped until Sync, as a backend does
    // after an error.
    bool skipping_to_sync = false;
    while (end_reason_.empty()) {
        auto read = co_await read_tagged_frame(client_, client_in_, client_reader_, settings_.read_chunk, &stats_->bytes_in);
        if (!read.frame) {
            if (!read.protocol_error.empty()) fail_protocol(read.protocol_error);
            else note_end("client disconnected");
            break;
        }
        const OwnedFrame& frame = *read.frame;
        if (auto valid = wire::validate_frontend_frame(frame.view()); !valid) {
            fail_protocol(valid.error().message);
            break;
        }
        std::vector<std::uint8_t> reply;
        const auto append = [&reply](const std::vector<std::uint8_t>& bytes) { reply.insert(reply.end(), bytes.begin(), bytes.end()); };
        switch (frame.tag) {
            case 'X':
                note_end("client terminated");
                continue;
            case 'Q': {
                if (skipping_to_sync) continue;
                stats_->statements.fetch_add(1, std::memory_order_relaxed);
                stats_->state.store(SessionStats::State::Active, std::memory_order_relaxed);
                const auto query = wire::Query::decode(frame.view());
                const std::string sql = query ? std::string(query->sql) : std::string();
                spdlog::debug("{} admin console: {}", prefix(), sql);
                auto parsed = parse_admin_query(sql);
                if (!parsed.error.empty()) {
                    append(parsed.error);
                } else if (parsed.commands.empty()) {
                    append(wire::EmptyQueryResponse{}.encode());
                }
                for (const AdminCommand command : parsed.commands) {
                    if (command == AdminCommand::Reload) {
                        spdlog::info("{} admin console: RELOAD by {}", prefix(), user_);
                        const auto outcome = server_.reload_rules();
                        append(answer_reload(outcome.ok, outcome.problems, server_.rules().path()));
                        if (!outcome.ok) break;  // an error ends the string, as in PostgreSQL
                        continue;
                    }
                    AdminData data;
                    data.metrics = server_.metrics_snapshot();
                    for (const auto& stats : server_.session_stats()) {
                        const auto identity = stats->identity();
                        data.sessions.push_back(AdminSessionRow{
                            stats->id(), stats->client_address(), identity.user, identity.database, identity.tls,
                            state_name(stats->state.load(std::memory_order_relaxed)), stats->connected_at(),
                            stats->bytes_in.load(std::memory_order_relaxed), stats->bytes_out.load(std::memory_order_relaxed),
                            stats->statements.load(std::memory_order_relaxed),
                            stats->tracked_rows.load(std::memory_order_relaxed)});
                    }
                    const auto rewriter = server_.rules().current();
                    data.rules = rewriter ? &rewriter->rules() : nullptr;
                    data.rules_path = server_.rules().path();
                    data.rules_generation = server_.rules().generation();
                    data.version = version_line();
                    append(answer_show(command, data));
                }
                append(ready_for_query);
                break;
            }
            case 'S':
                skipping_to_sync = false;
                append(ready_for_query);
                break;
            case 'H':  // Flush: nothing is held back
            case 'd':  // CopyData, CopyDone, CopyFail outside COPY: ignored, as by a backend
            case 'c':
            case 'f':
                continue;
            case 'F':  // FunctionCall is answered at once, like a Query
                append(admin_unsupported_protocol());
                append(ready_for_query);
                break;
            default:  // Parse, Bind, Describe, Execute, Close
                if (skipping_to_sync) continue;
                skipping_to_sync = true;
                append(admin_unsupported_protocol());
                break;
        }
        stats_->bytes_out.fetch_add(reply.size(), std::memory_order_relaxed);
        stats_->state.store(skipping_to_sync ? SessionStats::State::Active : SessionStats::State::Idle,
                            std::memory_order_relaxed);
        if (!reply.empty() && !co_await write_client(reply)) note_end("client disconnected");
    }
    spdlog::info("{} admin console closed user={} reason={}", prefix(), user_, end_reason_);
    co_await finish();
}

}  // namespace staleguard::session
