// The admin console's session side (placeholder until the console lands): refuses every admin login.
#include <spdlog/spdlog.h>

#include "proxy/server.hpp"
#include "proxy/session.hpp"

namespace staleguard::session {

asio::awaitable<void> Session::serve_admin_console(wire::StartupMessage startup) {
    static_cast<void>(startup);
    set_final_client_message(wire::ErrorResponse::make("28000", "no such user in --admin-users: \"" + user_ + "\"", {}, "FATAL").encode());
    note_end("admin console refused");
    co_await write_final_and_close_client();
    close_upstream();
    pump_finished();
}

}  // namespace staleguard::session
