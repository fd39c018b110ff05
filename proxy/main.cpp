// The staleguard binary: flags, logging, signals, and the thread pool that runs the proxy.
#include "proxy/asio.hpp"

#include <CLI/CLI.hpp>
#include <pg_query.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <iostream>
#include <thread>
#include <vector>

#include "proxy/rule_runtime.hpp"
#include "proxy/server.hpp"
#include "rules/rule_loader.hpp"
#include "rules/schema_check.hpp"
#include "proxy/settings.hpp"
#include "proxy/worker_thread.hpp"
#include "proxy/version.hpp"

namespace {

namespace asio = boost::asio;
using staleguard::session::Endpoint;
using staleguard::session::ProxySettings;

Endpoint parse_endpoint_or_exit(const std::string& flag, const std::string& text) {
    auto endpoint = Endpoint::parse(text);
    if (!endpoint) {
        std::cerr << "staleguard: " << flag << " expects HOST:PORT, got '" << text << "'\n";
        std::exit(2);
    }
    return *endpoint;
}

// --check-rules: validate a rule file, and with --upstream the live database it protects.
int check_rules(const std::string& path, const std::string& conninfo) {
    auto loaded = staleguard::rules::load_rule_file(path);
    if (!loaded) {
        for (const auto& problem : loaded.problems) std::cout << problem.to_string() << "\n";
        std::cout << path << ": " << loaded.problems.size() << " problem(s); the file would be refused\n";
        return 1;
    }
    std::cout << path << ": valid, " << loaded.rules->tables.size() << " protected table(s)\n";
    if (conninfo.empty()) return 0;
    auto report = staleguard::rules::check_rules_against_database(*loaded.rules, conninfo);
    for (const auto& warning : report.warnings) std::cout << "warning: " << warning << "\n";
    for (const auto& problem : report.problems) std::cout << "error: " << problem << "\n";
    std::cout << (report.ok() ? "database matches the rules\n" : "database does not match the rules\n");
    return report.ok() ? 0 : 1;
}

// libpq keyword/value quoting: single quotes around values, with \ and ' escaped.
std::string conninfo_value(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    return out + "'";
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"staleguard: a PostgreSQL proxy that gives optimistic locking to any client.\n"
                 "Point your application at --listen instead of at PostgreSQL."};
    app.set_version_flag("--version", std::string("staleguard ") + staleguard::kVersion +
                                          " (SQL parser: libpg_query for PostgreSQL " + PG_VERSION + ")");

    std::string listen = "127.0.0.1:6432";
    std::string upstream = "127.0.0.1:5432";
    std::string rules_file;
    std::string log_level = "info";
    ProxySettings defaults;
    std::size_t max_connections = defaults.max_connections;
    double startup_timeout = 60;
    double connect_timeout = 10;
    double shutdown_timeout = 30;
    std::uint32_t max_message_bytes = defaults.frame_limits.max_message_length;
    unsigned threads = 0;

    app.add_option("--listen", listen, "Address to accept clients on, HOST:PORT")->capture_default_str();
    app.add_option("--upstream", upstream, "PostgreSQL server to forward to, HOST:PORT")->capture_default_str();
    app.add_option("--rules", rules_file, "Rule file (YAML) naming the protected tables")->check(CLI::ExistingFile);
    app.add_option("--log-level", log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
        ->capture_default_str();
    app.add_option("--max-connections", max_connections,
                   "Client connections at once; more are refused with SQLSTATE 53300")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--startup-timeout", startup_timeout,
                   "Seconds a client may take from connect to the end of authentication")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--connect-timeout", connect_timeout, "Seconds to wait for the upstream server to accept")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--shutdown-timeout", shutdown_timeout,
                   "Seconds busy sessions get to finish after SIGINT/SIGTERM before they are closed")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--max-message-bytes", max_message_bytes,
                   "Largest message a client may send; larger ones are refused with SQLSTATE 08P01")
        ->check(CLI::Range(5u, 0x3fffffffu))
        ->capture_default_str();
    app.add_option("--threads", threads, "Worker threads (0 = one per core)")->capture_default_str();

    std::string check_rules_file;
    std::string check_user;
    std::string check_dbname;
    std::string check_conninfo;
    app.add_option("--check-rules", check_rules_file,
                   "Validate a rule file and exit 0 (valid) or 1; with --upstream also check the live database")
        ->group("Rule check");
    app.add_option("-U,--username", check_user, "With --check-rules: database user for the live check")
        ->group("Rule check");
    app.add_option("-d,--dbname", check_dbname, "With --check-rules: database for the live check")
        ->group("Rule check");
    app.add_option("--conninfo", check_conninfo,
                   "With --check-rules: a libpq connection string for the live check (instead of --upstream)")
        ->group("Rule check");

    CLI11_PARSE(app, argc, argv);

    if (!check_rules_file.empty()) {
        std::string conninfo = check_conninfo;
        if (conninfo.empty() && app.count("--upstream") > 0) {
            const auto target = parse_endpoint_or_exit("--upstream", upstream);
            conninfo = "host=" + conninfo_value(target.host) + " port=" + std::to_string(target.port);
            if (!check_user.empty()) conninfo += " user=" + conninfo_value(check_user);
            if (!check_dbname.empty()) conninfo += " dbname=" + conninfo_value(check_dbname);
        }
        return check_rules(check_rules_file, conninfo);
    }

    auto logger = spdlog::stderr_color_mt("staleguard");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    spdlog::set_level(spdlog::level::from_str(log_level));

    ProxySettings settings;
    settings.listen = parse_endpoint_or_exit("--listen", listen);
    settings.upstream = parse_endpoint_or_exit("--upstream", upstream);
    settings.rules_file = rules_file;
    settings.max_connections = max_connections;
    settings.startup_timeout = seconds_to_ms(startup_timeout);
    settings.upstream_connect_timeout = seconds_to_ms(connect_timeout);
    settings.shutdown_timeout = seconds_to_ms(shutdown_timeout);
    settings.frame_limits.max_message_length = max_message_bytes;
    settings.threads = threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : threads;

    staleguard::session::RuleRuntime rules(settings.rules_file);
    if (!rules.load()) return 1;

    // One single-threaded io_context per worker: sessions never migrate between threads.
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<asio::io_context*> context_pointers;
    for (unsigned i = 0; i < settings.threads; ++i) {
        contexts.push_back(std::make_unique<asio::io_context>(1));
        context_pointers.push_back(contexts.back().get());
    }
    asio::io_context& io = *contexts.front();
    // Keeps every worker running while it has no session; released once shutdown has drained.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    for (auto& context : contexts) keep_running.push_back(asio::make_work_guard(*context));
    staleguard::session::Server server(context_pointers, settings, rules);
    try {
        server.start();
    } catch (const std::exception& e) {
        spdlog::error("cannot listen on {}: {}", settings.listen.to_string(), e.what());
        return 1;
    }

    int signals_seen = 0;
    auto signal_strand = asio::make_strand(io);
    asio::signal_set signals(signal_strand, SIGINT, SIGTERM);
    asio::signal_set reload_signal(signal_strand, SIGHUP);
    // First signal: stop accepting and let sessions end at rest. A second one: close them now.
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal_number) {
            if (ec) return;
            static_cast<void>(signal_number);
            if (server.session_count() > 0 && signals_seen++ > 0) {
                spdlog::warn("second signal: closing every session now");
                server.force_shutdown();
            } else {
                spdlog::info("received {}", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
                server.begin_shutdown();
            }
            signals.async_wait(on_signal);

    std::function<void(const boost::system::error_code&, int)> on_reload = [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        spdlog::info("received SIGHUP: reloading {}", settings.rules_file.empty() ? "(no rule file)" : settings.rules_file);
        rules.load();
        reload_signal.async_wait(on_reload);
    };
    reload_signal.async_wait(on_reload);
        };
    server.on_drained([&] {
        asio::post(signal_strand, [&] {
            signals.cancel();
            reload_signal.cancel();
            for (auto& guard : keep_running) guard.reset();
        });
    });
    signals.async_wait(on_signal);

    std::function<void(const boost::system::error_code&, int)> on_reload = [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        spdlog::info("received SIGHUP: reloading {}", settings.rules_file.empty() ? "(no rule file)" : settings.rules_file);
        rules.load();
        reload_signal.async_wait(on_reload);
    };
    reload_signal.async_wait(on_reload);

    // Every io_context runs on a worker with a large stack (see worker_thread.hpp); the main
    // thread, whose stack size was fixed at exec, only waits.
    {
        std::vector<std::unique_ptr<staleguard::session::WorkerThread>> workers;
        try {
            for (auto& context : contexts)
                workers.push_back(std::make_unique<staleguard::session::WorkerThread>([&context] { context->run(); }));
        } catch (const std::exception& e) {
            spdlog::error("{}", e.what());
            for (auto& context : contexts) context->stop();
            return 1;
        }
    }
    spdlog::info("staleguard stopped");
    return 0;
}
