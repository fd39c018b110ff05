// One client connection and its own upstream connection: the startup exchange, then two pumps
// (client→server, server→client) on the session's single-threaded io_context that forward frames and keep the Conversation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/byte_buffer.hpp"
#include "proxy/codec/frame.hpp"
#include "proxy/codec/startup_messages.hpp"
#include "proxy/conversation.hpp"
#include "proxy/metrics.hpp"
#include "proxy/outgoing_batch.hpp"
#include "proxy/peer_stream.hpp"
#include "proxy/session_stats.hpp"
#include "proxy/settings.hpp"
#include "proxy/statement_guard.hpp"
#include "proxy/sync_batch.hpp"

namespace staleguard::session {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Server;

// A client connection as the listener hands it over: TCP or the Unix-domain socket.
struct AcceptedClient {
    PeerStream::Socket socket;
    std::string address;  // "ADDRESS:PORT", or "[local]" as PostgreSQL logs a Unix-domain client
    // A Unix-domain client is offered no TLS (PostgreSQL answers its SSLRequest with N), and
    // --tls-mode require does not refuse it: the socket never leaves the machine.
    bool over_unix_socket = false;
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(AcceptedClient client, Server& server, std::uint64_t id, bool over_capacity);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start();
    // Thread-safe. Ends the session at its next ReadyForQuery (now, when it is at rest).
    void request_shutdown();
    // Thread-safe. Ends the session now.
    void force_stop(std::string reason);

    std::uint64_t id() const { return id_; }
    // What SHOW SESSIONS shows of this session; readable from any thread.
    std::shared_ptr<const SessionStats> stats() const { return stats_; }

private:
    asio::awaitable<void> run();
    // Reads one startup-phase frame into client_in_; nullopt when the session must end.
    asio::awaitable<std::optional<wire::Frame>> read_startup_frame();
    // TCP connect, then with negotiate_tls the --upstream-tls exchange (not for cancel requests).
    asio::awaitable<bool> connect_upstream(bool negotiate_tls = true);
    // TLS, in session_tls.cpp. True when the client's first byte opens a TLS handshake.
    asio::awaitable<bool> starts_with_tls_handshake();
    // The handshake with the client (after 'S', or direct); false ends the session.
    asio::awaitable<bool> accept_client_tls(bool direct);
    // SSLRequest to the upstream and, on 'S', the handshake; the reason when the session must end.
    asio::awaitable<std::optional<std::string>> negotiate_upstream_tls();
    asio::awaitable<void> forward_cancel(std::vector<std::uint8_t> packet);
    asio::awaitable<void> pump_client_to_server();
    asio::awaitable<void> pump_server_to_client();
    asio::awaitable<void> watch_startup();

    // Client → server: decides what one validated client frame becomes upstream. May write the
    // batch and wait for the server (a checked write, a schema lookup). False ends the session.
    // `next_tag` is the tag of the frame behind it in the same read (0 when none has arrived yet).
    asio::awaitable<bool> handle_client_frame(const wire::Frame& frame, char next_tag, OutgoingBatch& batch);
    // Records a message about to go upstream in the conversation, with how to route its responses.
    void send(OutgoingBatch& batch, char tag, std::vector<std::uint8_t> bytes, ResponseRoute route = {});
    void forward(OutgoingBatch& batch, const wire::Frame& frame, ResponseRoute route = {});
    std::uint64_t record_upstream(char tag, ResponseRoute route);
    asio::awaitable<bool> flush_upstream(OutgoingBatch& batch);
    // `alone` when no Execute has gone upstream since the last Sync (the Query starts its own
    // implicit transaction, or continues a transaction block).
    asio::awaitable<void> run_translated(const QueryPlan& plan, std::string_view original_sql, bool alone,
                                         OutgoingBatch& batch);
    // Sends Flush, then waits for the verdict on the checked Execute `correlation`; on a stale
    // write, adds the message that makes the server fail the batch. True when the write was stale.
    asio::awaitable<bool> check_write(std::uint64_t correlation, OutgoingBatch& batch);
    // For a checked write that changes no row when stale and is alone in its implicit transaction
    // (or inside a block): sends the Sync at once, so the write costs one round trip, then waits
    // for the verdict. A stale write's ReadyForQuery is held back and a failing Bind + Sync follow,
    // so the server ends (or aborts) the transaction as an error would have before anything else
    // of the client's goes upstream.
    asio::awaitable<void> sync_then_settle(std::uint64_t correlation, OutgoingBatch& batch);
    // Writes the batch, whose last ReadyForQuery is held back should the write `correlation`
    // prove stale, and waits for its verdict; a stale write gets the failing Bind + Sync.
    asio::awaitable<void> settle_after_the_fact(std::uint64_t correlation, OutgoingBatch& batch);
    // The server has judged the write `correlation`, or answered it without a verdict (an error).
    bool verdict_known(std::uint64_t correlation) const;
    bool stale_verdict_for(std::uint64_t correlation) const;
    // The stale write `verdict_` describes: logged, counted, and a failing Bind that shows the
    // client the verdict's error added to the batch.
    void raise_stale_write(OutgoingBatch& batch);
    // A track-mode write that left rows alone it was checked against: reads their versions again
    // in the same transaction (flushing the batch) and keeps as stale only the ones that changed
    // (the others its WHERE or a trigger passed over). True when it asked the server.
    asio::awaitable<bool> recheck_rows_left_alone(std::uint64_t correlation, OutgoingBatch& batch);
    // The verdict's error for stale rows of a track-mode write, and what the log says of it.
    void describe_track_stale(const TrackCheck& check, const std::vector<SeenRow>& stale);
    // The re-read's rows and its end: the write's CommandComplete shown or the verdict kept.
    void route_recheck_frame(const wire::Frame& frame, bool& pass,
                             std::optional<std::vector<std::uint8_t>>& replacement);
    asio::awaitable<void> look_up_schemas(const parser::Rewriter& rewriter, std::string_view sql);
    // Waits until the server→client pump reports progress.
    asio::awaitable<void> wait_for_server(const std::function<bool()>& done);

    const std::shared_ptr<const parser::Rewriter>& current_rules();
    // The requests an ErrorResponse arriving now fails or makes the server skip.
    std::vector<std::uint64_t> failed_or_skipped_requests() const;
    // Server → client: what one server frame becomes for the client.
    void route_server_frame(const wire::Frame& frame, OutgoingBatch& batch);
    // Track mode's part of it: hidden columns stripped, their values remembered, a tracked
    // write's verdict. False when the frame must not be forwarded as it came.
    bool route_tracked_frame(const wire::Frame& frame, ResponseRoute& route, std::uint64_t correlation,
                             OutgoingBatch& batch);

    // An ErrorResponse of severity FATAL: what the client reads before staleguard closes it.
    static std::vector<std::uint8_t> fatal(std::string_view sqlstate, std::string_view message);
    // The first reason given wins; it is what the close log line says.
    void note_end(std::string reason);
    // A message for the client that the server→client pump writes last, before it closes.
    void set_final_client_message(std::vector<std::uint8_t> bytes);
    void fail_protocol(std::string message);
    void end_at_rest();
    void close_upstream();
    void close_client();
    asio::awaitable<void> write_final_and_close_client();
    void pump_finished();

    const std::string& prefix() const { return prefix_; }

    // Counters (session_metrics.cpp): bytes read, and one Query or Parse message from decode to
    // queued upstream. begin_statement is true for the messages that count as statements.
    void note_bytes_from_client(std::size_t n);
    void note_bytes_from_server(std::size_t n);
    bool begin_statement(char tag);
    void set_statement_outcome(StatementOutcome outcome) { statement_outcome_ = outcome; }
    void statement_queued();  // stops the added-time clock (the first call only)
    void finish_statement();
    void note_stale_write(const std::string& table);
    void note_ready_for_query();

    // The admin console (admin_session.cpp): authenticates through the upstream, then answers
    // SHOW/RELOAD locally until the client leaves.
    asio::awaitable<void> serve_admin_console(wire::StartupMessage startup);

    Server& server_;
    const ProxySettings& settings_;
    const std::uint64_t id_;
    const bool over_capacity_;
    // The worker io_context the client was accepted onto. It runs on one thread, so it orders the
    // pumps and posts from other threads as a strand would, without a strand's lock and the heap
    // allocation a strand costs inside every type-erased handler executor.
    asio::any_io_executor executor_;
    const std::string client_address_;
    const bool client_over_unix_socket_;
    PeerStream client_;
    PeerStream upstream_;
    asio::steady_timer startup_timer_;
    ByteBuffer client_in_;
    ByteBuffer server_in_;
    wire::FrameReader client_reader_;
    wire::FrameReader server_reader_;
    Conversation conversation_;
    StatementGuard guard_;
    std::map<std::uint64_t, ResponseRoute> routes_;  // by correlation; absent = pass through
    std::uint64_t next_correlation_ = 1;
    struct Verdict {
        std::uint64_t correlation = 0;
        bool stale = false;
        std::vector<std::uint8_t> error;  // stale: what the client is shown
        std::string what;                 // stale: for the log
        std::string table;                // stale: the protected table, for the metrics
        // Track mode: the rows a write left alone are stale unless a fresh read shows them still
        // as read. Meanwhile its CommandComplete waits here.
        struct Recheck {
            std::shared_ptr<const TrackedResult> tracked;
            std::vector<SeenRow> candidates;
            std::vector<ReturnedRow> returned;  // what the write did change
            std::vector<std::uint8_t> completion;
            std::vector<ReturnedRow> current;  // the re-read's rows
        };
        std::optional<Recheck> recheck;
        bool shown = false;  // the error already took the place of a failed re-read's
    };
    // Track mode: a reused buffer for the hidden values of one DataRow.
    std::vector<TrackedRow> tracked_rows_;
    std::optional<Verdict> verdict_;
    asio::steady_timer wake_timer_;
    bool client_pump_waiting_ = false;
    // What the client has run since its last Sync: whether a write is alone in its implicit transaction.
    SyncBatch since_sync_;
    // A checked write whose Execute went upstream, to be settled at the client's Sync behind it.
    std::optional<std::uint64_t> write_awaiting_sync_;
    // A stale write's ReadyForQuery was held back: the client is owed one, so the session is not
    // at rest even when the server is.
    bool ready_held_ = false;

    std::string prefix_;
    // The rules this session applies; refreshed when the runtime's generation moves (SIGHUP).
    std::shared_ptr<const parser::Rewriter> rewriter_;
    std::uint64_t rules_generation_ = 0;  // "[s17 127.0.0.1:5555]": every log line of the session starts with it
    std::string user_;
    std::string database_;
    std::chrono::steady_clock::time_point opened_at_;
    std::uint64_t bytes_from_client_ = 0;
    std::uint64_t bytes_from_server_ = 0;
    std::string end_reason_;
    std::optional<std::vector<std::uint8_t>> final_client_message_;
    bool server_pump_running_ = false;
    bool server_sent_fatal_ = false;
    bool shutting_down_ = false;
    bool logged_open_ = false;
    // The upstream shows staleguard's own certificate: SCRAM-SHA-256-PLUS may pass (see session_tls.cpp).
    bool channel_binding_passes_ = false;
    int pumps_running_ = 0;

    std::shared_ptr<SessionStats> stats_;
    StatementOutcome statement_outcome_ = StatementOutcome::Passed;
    std::chrono::steady_clock::time_point statement_started_;
    bool statement_open_ = false;
    bool statement_timed_ = false;
    bool statement_stale_ = false;
};

}  // namespace staleguard::session
