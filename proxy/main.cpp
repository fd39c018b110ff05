// The staleguard binary: flags, logging, signals, and the thread pool that runs the proxy.
#include "proxy/asio.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <signal.h>  // pthread_sigmask: <csignal> need not declare it
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <iostream>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/config_file.hpp"
#include "proxy/log_format.hpp"
#include "proxy/metrics_server.hpp"
#include "proxy/rule_runtime.hpp"
#include "proxy/server.hpp"
#include "rules/rule_loader.hpp"
#include "rules/schema_check.hpp"
#include "rules/schema_ddl.hpp"
#include "proxy/settings.hpp"
#include "proxy/tls_context.hpp"
#include "proxy/worker_thread.hpp"
#include "proxy/version_line.hpp"

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

// --listen and --metrics accept TCP connections only.
Endpoint parse_tcp_endpoint_or_exit(const std::string& flag, const std::string& text) {
    auto endpoint = parse_endpoint_or_exit(flag, text);
    if (endpoint.is_unix_socket()) {
        std::cerr << "staleguard: " << flag << " takes a TCP HOST:PORT; a socket directory ('" << text
                  << "') is understood by --upstream"
                  << (flag == "--listen" ? ", and clients are accepted on one with --unix-socket-dir DIR" : "") << "\n";
        std::exit(2);
    }
    return endpoint;
}

// --unix-socket-dir: an existing directory, named absolutely so that clients can name it too.
std::string unix_socket_dir_or_exit(std::string dir) {
    if (dir.empty()) return dir;
    std::error_code ec;
    if (dir.front() != '/' || !std::filesystem::is_directory(dir, ec)) {
        std::cerr << "staleguard: --unix-socket-dir '" << dir << "' "
                  << (dir.front() != '/' ? "must be an absolute path" : "is not an existing directory") << "\n";
        std::exit(2);
    }
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir;
}

// --unix-socket-mode: octal permission bits, as chmod and pgbouncer's unix_socket_mode take them.
unsigned socket_mode_or_exit(const std::string& text) {
    if (auto mode = staleguard::session::parse_socket_mode(text)) return *mode;
    std::cerr << "staleguard: --unix-socket-mode '" << text << "' must be permission bits in octal, such as 0770\n";
    std::exit(2);
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

// The conninfo for --check-rules and `schema`: --conninfo as given, else one built from
// --upstream, -U and -d; empty when neither was given.
std::string conninfo_from(const std::string& conninfo, bool upstream_given, const std::string& upstream,
                          const std::string& user, const std::string& dbname) {
    if (!conninfo.empty() || !upstream_given) return conninfo;
    const auto target = parse_endpoint_or_exit("--upstream", upstream);
    std::string built = "host=" + conninfo_value(target.host) + " port=" + std::to_string(target.port);
    if (!user.empty()) built += " user=" + conninfo_value(user);
    if (!dbname.empty()) built += " dbname=" + conninfo_value(dbname);
    return built;
}

// `staleguard schema`: print (and with --apply run) the DDL a rule file needs and the database lacks.
int run_schema(const std::string& rules_path, const std::string& conninfo, bool triggers, bool apply) {
    auto loaded = staleguard::rules::load_rule_file(rules_path);
    if (!loaded) {
        for (const auto& problem : loaded.problems) std::cerr << problem.to_string() << "\n";
        std::cerr << rules_path << ": " << loaded.problems.size() << " problem(s); fix the rule file first\n";
        return 1;
    }
    auto catalog = staleguard::rules::read_catalog_state(*loaded.rules, conninfo);
    if (!catalog.ok()) {
        std::cerr << "staleguard schema: " << catalog.error << "\n";
        return 1;
    }
    const auto plan = staleguard::rules::plan_schema_ddl(*loaded.rules, catalog.tables,
                                                        staleguard::rules::SchemaDdlOptions{triggers, rules_path});
    for (const auto& warning : plan.warnings) std::cerr << "warning: " << warning << "\n";
    for (const auto& problem : plan.problems) std::cerr << "error: " << problem << "\n";
    std::cout << plan.script() << std::flush;
    if (!plan.problems.empty()) {
        std::cerr << "staleguard schema: " << plan.problems.size() << " table(s) the DDL cannot fix"
                  << (apply ? "; nothing applied" : "") << "\n";
        return 1;
    }
    if (!apply || plan.nothing_to_do()) return 0;
    const auto applied = staleguard::rules::apply_schema_ddl(plan, conninfo);
    if (!applied.ok()) {
        std::cerr << "staleguard schema: " << applied.error << "\n";
        return 1;
    }
    std::cout << "-- applied: " << applied.statements_run << " statement(s) for " << plan.tables.size()
              << " table(s), committed in one transaction\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"staleguard: a PostgreSQL proxy that gives optimistic locking to any client.\n"
                 "Point your application at --listen instead of at PostgreSQL."};
    app.set_version_flag("--version", staleguard::session::version_line());

    std::string listen = "127.0.0.1:6432";
    std::string upstream = "127.0.0.1:5432";
    std::string unix_socket_dir;
    std::string unix_socket_mode = "0777";
    std::string unix_socket_group;
    std::optional<unsigned> file_socket_mode;
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
    app.add_option("--upstream", upstream,
                   "PostgreSQL server to forward to, HOST:PORT; a HOST that is an absolute path is the "
                   "directory of the server's Unix-domain socket, as in libpq (/var/run/postgresql:5432)")
        ->capture_default_str();
    app.add_option("--unix-socket-dir", unix_socket_dir,
                   "Also accept clients on the Unix-domain socket DIR/.s.PGSQL.PORT, PORT being --listen's, "
                   "as PostgreSQL and pgbouncer do (psql -h DIR -p PORT)");
    app.add_option("--unix-socket-mode", unix_socket_mode,
                   "Permission bits of that socket file, in octal (pgbouncer's unix_socket_mode); 0770 with "
                   "--unix-socket-group lets only the group's members connect")
        ->capture_default_str();
    app.add_option("--unix-socket-group", unix_socket_group,
                   "Group of that socket file, a name or id (default: the group staleguard runs as)");
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
    std::string metrics;
    std::vector<std::string> admin_users;
    app.add_option("--metrics", metrics, "Serve Prometheus metrics at http://HOST:PORT/metrics");
    app.add_option("--admin-users", admin_users,
                   "Roles that may connect to the admin console (database \"staleguard\"); their passwords are "
                   "checked by the upstream server (as a login to database \"postgres\")")
        ->delimiter(',');

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

    std::string config_file;
    std::string log_format = "text";
    app.add_option("--config", config_file,
                   "YAML file with the same settings as the flags; a flag given on the command line wins over it");
    bool log_statements = false;
    app.add_flag("--log-statements", log_statements,
                 "Log each statement staleguard rewrote, before and after, at debug level (with --log-level debug)");
    app.add_option("--log-format", log_format, "Log line format: text, or json (one object per line)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();

    std::string tls_cert;
    std::string tls_key;
    std::string tls_ca;
    std::string tls_mode;
    std::string upstream_tls;
    std::string upstream_ca;
    app.add_option("--tls-cert", tls_cert, "PEM certificate (chain) that staleguard shows clients asking for TLS")
        ->group("TLS");
    app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->group("TLS");
    app.add_option("--tls-ca", tls_ca,
                   "PEM CA file: clients are asked for a certificate, which must verify against it when sent")
        ->group("TLS");
    app.add_option("--tls-mode", tls_mode,
                   "Client TLS: disable (answer SSLRequest 'N'), allow, or require (plaintext clients get 28000); "
                   "default allow with --tls-cert, else disable")
        ->check(CLI::IsMember({"disable", "allow", "require"}))
        ->group("TLS");
    app.add_option("--upstream-tls", upstream_tls,
                   "TLS to the server: disable, prefer (default), require, or verify-full (chain and host name)")
        ->check(CLI::IsMember({"disable", "prefer", "require", "verify-full"}))
        ->group("TLS");
    app.add_option("--upstream-ca", upstream_ca,
                   "PEM CA file for --upstream-tls verify-full (default: the system's trusted certificates)")
        ->group("TLS");

    CLI::App* schema = app.add_subcommand(
        "schema", "Print the DDL a rule file needs and the database lacks (version columns; with --triggers, a "
                  "trigger per table that bumps the version), or run it with --apply");
    std::string schema_rules;
    std::string schema_upstream;
    std::string schema_user;
    std::string schema_dbname;
    std::string schema_conninfo;
    bool schema_triggers = false;
    bool schema_apply = false;
    schema->add_option("--rules", schema_rules, "Rule file (YAML) naming the protected tables")
        ->required()
        ->check(CLI::ExistingFile);
    CLI::Option* schema_upstream_option =
        schema->add_option("--upstream", schema_upstream, "PostgreSQL server to read the catalog of, HOST:PORT");
    schema->add_option("-U,--username", schema_user, "Database user (with --upstream)");
    schema->add_option("-d,--dbname", schema_dbname, "Database (with --upstream)");
    schema->add_option("--conninfo", schema_conninfo, "A libpq connection string (instead of --upstream)")
        ->excludes(schema_upstream_option);
    schema->add_flag("--triggers", schema_triggers,
                     "Also create (or refresh) a trigger per table that bumps the version on every UPDATE, "
                     "including writes that do not pass through staleguard");
    schema->add_flag("--apply", schema_apply, "Run the DDL in one transaction instead of only printing it");

    // Usage errors exit 2, as bad HOST:PORT values and config-file problems do.
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }

    if (schema->parsed()) {
        if (schema_conninfo.empty() && schema_upstream.empty()) {
            std::cerr << "staleguard schema: give --upstream HOST:PORT (with -U and -d) or --conninfo\n";
            return 2;
        }
        const std::string conninfo =
            conninfo_from(schema_conninfo, !schema_upstream.empty(), schema_upstream, schema_user, schema_dbname);
        return run_schema(schema_rules, conninfo, schema_triggers, schema_apply);
    }

    // Defaults, then the config file, then the flags given on the command line.
    if (!config_file.empty()) {
        auto loaded = staleguard::session::load_config_file(config_file);
        if (!loaded) {
            for (const auto& problem : loaded.problems) std::cerr << problem.to_string() << "\n";
            std::cerr << "staleguard: " << config_file << ": " << loaded.problems.size()
                      << " problem(s); not starting\n";
            return 2;
        }
        const auto& file = *loaded.settings;
        const auto unless_flag = [&app](const char* flag, const auto& value, auto& target) {
            if (value && app.count(flag) == 0) target = *value;
        };
        if (file.listen && app.count("--listen") == 0) listen = file.listen->to_string();
        if (file.upstream && app.count("--upstream") == 0) upstream = file.upstream->to_string();
        unless_flag("--rules", file.rules_file, rules_file);
        unless_flag("--unix-socket-dir", file.unix_socket_dir, unix_socket_dir);
        if (app.count("--unix-socket-mode") == 0) file_socket_mode = file.unix_socket_mode;
        unless_flag("--unix-socket-group", file.unix_socket_group, unix_socket_group);
        unless_flag("--threads", file.threads, threads);
        unless_flag("--log-level", file.log_level, log_level);
        unless_flag("--log-format", file.log_format, log_format);
        unless_flag("--log-statements", file.log_statements, log_statements);
        unless_flag("--max-connections", file.max_connections, max_connections);
        unless_flag("--max-message-bytes", file.max_message_bytes, max_message_bytes);
        unless_flag("--startup-timeout", file.startup_timeout_seconds, startup_timeout);
        unless_flag("--connect-timeout", file.connect_timeout_seconds, connect_timeout);
        unless_flag("--shutdown-timeout", file.shutdown_timeout_seconds, shutdown_timeout);
        unless_flag("--tls-cert", file.tls_cert_file, tls_cert);
        unless_flag("--tls-key", file.tls_key_file, tls_key);
        unless_flag("--tls-ca", file.tls_ca_file, tls_ca);
        unless_flag("--tls-mode", file.tls_mode, tls_mode);
        unless_flag("--upstream-tls", file.upstream_tls_mode, upstream_tls);
        unless_flag("--upstream-ca", file.upstream_tls_ca_file, upstream_ca);
        if (file.metrics && app.count("--metrics") == 0) metrics = file.metrics->to_string();
        unless_flag("--admin-users", file.admin_users, admin_users);
    }

    if (!check_rules_file.empty()) {
        const std::string conninfo =
            conninfo_from(check_conninfo, app.count("--upstream") > 0, upstream, check_user, check_dbname);
        return check_rules(check_rules_file, conninfo);
    }

    staleguard::session::set_up_logging(log_level, log_format);

    ProxySettings settings;
    settings.listen = parse_tcp_endpoint_or_exit("--listen", listen);
    settings.upstream = parse_endpoint_or_exit("--upstream", upstream);
    settings.unix_socket_dir = unix_socket_dir_or_exit(unix_socket_dir);
    settings.unix_socket_access.mode = file_socket_mode ? *file_socket_mode : socket_mode_or_exit(unix_socket_mode);
    settings.unix_socket_access.group = unix_socket_group;
    settings.rules_file = rules_file;
    settings.max_connections = max_connections;
    settings.log_statements = log_statements;
    settings.startup_timeout = seconds_to_ms(startup_timeout);
    settings.upstream_connect_timeout = seconds_to_ms(connect_timeout);
    settings.shutdown_timeout = seconds_to_ms(shutdown_timeout);
    settings.frame_limits.max_message_length = max_message_bytes;
    settings.threads = threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : threads;
    if (!metrics.empty()) settings.metrics = parse_tcp_endpoint_or_exit("--metrics", metrics);
    for (const auto& user : admin_users)
        if (!user.empty()) settings.admin_users.push_back(user);

    const auto tls_settings = staleguard::session::resolve_tls_settings(staleguard::session::TlsRequest{
        tls_cert, tls_key, tls_ca,
        tls_mode.empty() ? std::nullopt : staleguard::session::parse_client_tls_mode(tls_mode),
        upstream_tls.empty() ? std::nullopt : staleguard::session::parse_upstream_tls_mode(upstream_tls),
        upstream_ca, settings.upstream.is_unix_socket()});
    if (!tls_settings.settings) {
        std::cerr << "staleguard: " << tls_settings.error << "\n";
        return 2;
    }
    staleguard::session::TlsContexts tls;
    try {
        tls = staleguard::session::TlsContexts(*tls_settings.settings);
    } catch (const std::exception& e) {
        std::cerr << "staleguard: " << e.what() << "\n";
        return 2;
    }

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
    staleguard::session::Server server(context_pointers, settings, rules, std::move(tls));
    std::unique_ptr<staleguard::session::MetricsServer> metrics_server;
    if (settings.metrics) {
        metrics_server = std::make_unique<staleguard::session::MetricsServer>(
            io, *settings.metrics, [&server] { return staleguard::session::render_prometheus(server.metrics_snapshot()); });
        try {
            metrics_server->start();
        } catch (const std::exception& e) {
            spdlog::error("cannot serve metrics on {}: {}", settings.metrics->to_string(), e.what());
            return 1;
        }
    }

    try {
        server.start();
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }

    int signals_seen = 0;
    // Set once the sets are cancelled at the end. A handler already queued behind the cancel (a
    // second signal in the same instant) must not wait again: that wait would keep the
    // io_context, and the process, running for ever.
    bool signals_closed = false;
    auto signal_strand = asio::make_strand(io);
    asio::signal_set signals(signal_strand, SIGINT, SIGTERM);
    asio::signal_set reload_signal(signal_strand, SIGHUP);
    // First signal: stop accepting and let sessions end at rest. A second one: close them now.
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal_number) {
            if (ec || signals_closed) return;
            if (server.session_count() > 0 && signals_seen++ > 0) {
                spdlog::warn("second signal: closing every session now");
                server.force_shutdown();
            } else {
                spdlog::info("received {}", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
                server.begin_shutdown();
            }
            signals.async_wait(on_signal);
        };
    server.on_drained([&] {
        asio::post(signal_strand, [&] {
            signals_closed = true;
            signals.cancel();
            reload_signal.cancel();
            if (metrics_server) metrics_server->stop();
            for (auto& guard : keep_running) guard.reset();
        });
    });
    signals.async_wait(on_signal);

    std::function<void(const boost::system::error_code&, int)> on_reload = [&](const boost::system::error_code& ec, int) {
        if (ec || signals_closed) return;
        spdlog::info("received SIGHUP");
        static_cast<void>(server.reload_rules());
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
    // A late copy of the signal that stopped us (one Ctrl-C can arrive two or three times) must
    // not turn this clean exit into death by signal: the sets would hand their signals back to
    // the default action as they go, so they go now and the signals are ignored instead. They
    // are blocked first (every other thread has had them blocked from its start: see
    // WorkerThread), or one arriving between the sets' going and the ignoring would still find
    // the default action.
    const sigset_t stopping = staleguard::session::main_thread_signals();
    pthread_sigmask(SIG_BLOCK, &stopping, nullptr);
    boost::system::error_code ignored;
    signals.clear(ignored);
    reload_signal.clear(ignored);
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    spdlog::info("staleguard stopped");
    return 0;
}
