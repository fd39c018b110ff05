// Config files: valid texts give exactly the expected settings, invalid ones exactly the expected
// FILE:LINE:COLUMN problem lines.
#include "proxy/config_file.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace staleguard::session {
namespace {

struct ValidCase {
    std::string name;
    std::string text;
    ConfigFileSettings expected;
};

// Every setting as `key=value` (or `key unset`), so that a mismatch shows which one differs.
std::string describe(const ConfigFileSettings& s) {
    std::ostringstream out;
    const auto field = [&out](const char* key, const auto& value) {
        out << key;
        if (value) {
            if constexpr (std::is_same_v<std::decay_t<decltype(*value)>, Endpoint>) {
                out << "=" << value->to_string();
            } else {
                out << "=" << *value;
            }
        } else {
            out << " unset";
        }
        out << "\n";
    };
    field("listen", s.listen);
    field("unix_socket_dir", s.unix_socket_dir);
    field("unix_socket_mode", s.unix_socket_mode);
    field("unix_socket_group", s.unix_socket_group);
    field("upstream", s.upstream);
    field("rules", s.rules_file);
    field("threads", s.threads);
    field("log.level", s.log_level);
    field("log.format", s.log_format);
    field("limits.max_connections", s.max_connections);
    field("limits.max_message_bytes", s.max_message_bytes);
    field("timeouts.startup", s.startup_timeout_seconds);
    field("timeouts.connect", s.connect_timeout_seconds);
    field("timeouts.shutdown", s.shutdown_timeout_seconds);
    field("tls.cert", s.tls_cert_file);
    field("tls.key", s.tls_key_file);
    field("tls.ca", s.tls_ca_file);
    field("tls.mode", s.tls_mode);
    field("upstream_tls.mode", s.upstream_tls_mode);
    field("upstream_tls.ca", s.upstream_tls_ca_file);
    field("metrics", s.metrics);
    out << "admin_users";
    if (s.admin_users) {
        out << "=[";
        for (const auto& role : *s.admin_users) out << role << ";";
        out << "]";
    } else {
        out << " unset";
    }
    out << "\n";
    return out.str();
}

ConfigFileSettings with(auto&& change) {
    ConfigFileSettings settings;
    change(settings);
    return settings;
}

std::vector<ValidCase> valid_cases() {
    return {
        {"Empty", "", {}},
        {"CommentsOnly", "# nothing set yet\n# listen: 0.0.0.0:6432\n", {}},
        {"Everything",
         "listen: 0.0.0.0:6432\n"
         "upstream: db.internal:5433\n"
         "rules: /etc/staleguard/rules.yaml\n"
         "threads: 4\n"
         "log:\n  level: debug\n  format: json\n"
         "limits:\n  max_connections: 200\n  max_message_bytes: 1048576\n"
         "timeouts:\n  startup: 15\n  connect: 2.5\n  shutdown: 0\n",
         with([](ConfigFileSettings& s) {
             s.listen = Endpoint{"0.0.0.0", 6432};
             s.upstream = Endpoint{"db.internal", 5433};
             s.rules_file = "/etc/staleguard/rules.yaml";
             s.threads = 4;
             s.log_level = "debug";
             s.log_format = "json";
             s.max_connections = 200;
             s.max_message_bytes = 1048576;
             s.startup_timeout_seconds = 15;
             s.connect_timeout_seconds = 2.5;
             s.shutdown_timeout_seconds = 0;
         })},
        {"QuotedIpv6", "listen: \"[::1]:6432\"\n", with([](ConfigFileSettings& s) { s.listen = Endpoint{"::1", 6432}; })},
        {"FlowMaps", "log: {level: warn}\ntimeouts: {connect: .5}\n", with([](ConfigFileSettings& s) {
             s.log_level = "warn";
             s.connect_timeout_seconds = 0.5;
         })},
        {"EmptySections", "log: {}\nlimits: {}\n", {}},
        {"ThreadsZeroMeansPerCore", "threads: 0\n", with([](ConfigFileSettings& s) { s.threads = 0; })},
        {"RelativeRulesKeptAsWritten", "rules: rules.yaml\n",
         with([](ConfigFileSettings& s) { s.rules_file = "rules.yaml"; })},
        {"LargestMessageLimit", "limits:\n  max_message_bytes: 1073741823\n",
         with([](ConfigFileSettings& s) { s.max_message_bytes = 1073741823u; })},
        {"ExplicitDocumentStart", "---\nthreads: 2\n...\n", with([](ConfigFileSettings& s) { s.threads = 2; })},
        {"TlsBothSides",
         "tls:\n  cert: /etc/staleguard/server.pem\n  key: /etc/staleguard/server.key\n  ca: clients.pem\n"
         "  mode: require\n"
         "upstream_tls:\n  mode: verify-full\n  ca: /etc/ssl/db-ca.pem\n",
         with([](ConfigFileSettings& s) {
             s.tls_cert_file = "/etc/staleguard/server.pem";
             s.tls_key_file = "/etc/staleguard/server.key";
             s.tls_ca_file = "clients.pem";
             s.tls_mode = "require";
             s.upstream_tls_mode = "verify-full";
             s.upstream_tls_ca_file = "/etc/ssl/db-ca.pem";
         })},
        {"TlsFlowMaps", "tls: {mode: disable}\nupstream_tls: {mode: prefer}\n", with([](ConfigFileSettings& s) {
             s.tls_mode = "disable";
             s.upstream_tls_mode = "prefer";
         })},
        {"EmptyTlsSections", "tls: {}\nupstream_tls: {}\n", {}},
        {"UpstreamSocketDirectory", "upstream: /var/run/postgresql:5432\n",
         with([](ConfigFileSettings& s) { s.upstream = Endpoint{"/var/run/postgresql", 5432}; })},
        {"UnixSocketDir", "unix_socket_dir: /var/run/postgresql\n",
         with([](ConfigFileSettings& s) { s.unix_socket_dir = "/var/run/postgresql"; })},
        {"UnixSocketModeQuoted", "unix_socket_mode: \"0770\"\n", with([](ConfigFileSettings& s) { s.unix_socket_mode = 0770u; })},
        // YAML 1.2 leaves an unquoted 0770 a string of digits, which is read as octal all the same.
        {"UnixSocketModeBare", "unix_socket_mode: 0770\n", with([](ConfigFileSettings& s) { s.unix_socket_mode = 0770u; })},
        {"UnixSocketModeThreeDigits", "unix_socket_mode: 700\n", with([](ConfigFileSettings& s) { s.unix_socket_mode = 0700u; })},
        {"UnixSocketGroupName", "unix_socket_group: postgres\n",
         with([](ConfigFileSettings& s) { s.unix_socket_group = "postgres"; })},
        {"UnixSocketGroupId", "unix_socket_group: 105\n", with([](ConfigFileSettings& s) { s.unix_socket_group = "105"; })},
        {"Metrics", "metrics: 127.0.0.1:9187\n", with([](ConfigFileSettings& s) { s.metrics = Endpoint{"127.0.0.1", 9187}; })},
        {"AdminUsers", "admin_users: [ops, \"Mixed Case\"]\n", with([](ConfigFileSettings& s) {
             s.admin_users = std::vector<std::string>{"ops", "Mixed Case"};
         })},
        {"AdminUsersEmptyList", "admin_users: []\n",
         with([](ConfigFileSettings& s) { s.admin_users = std::vector<std::string>{}; })},
    };
}

class ValidConfig : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidConfig, GivesExactlyTheseSettings) {
    const auto result = load_config_text(GetParam().text, "staleguard.yaml");
    ASSERT_TRUE(result.ok()) << (result.problems.empty() ? "" : result.problems.front().to_string());
    EXPECT_TRUE(result.problems.empty());
    EXPECT_EQ(describe(*result.settings), describe(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(ConfigFile, ValidConfig, testing::ValuesIn(valid_cases()),
                         [](const auto& info) { return info.param.name; });

struct InvalidCase {
    std::string name;
    std::string text;
    std::vector<std::string> expected;  // problem lines, in order
};

std::vector<InvalidCase> invalid_cases() {
    return {
        {"UnknownTopLevelKey", "listen: 127.0.0.1:6432\nlisten_port: 6432\n",
         {"c.yaml:2:1: unknown key 'listen_port'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
          "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, "
          "admin_users"}},
        {"UnknownNestedKey", "log:\n  level: info\n  colour: yes\n",
         {"c.yaml:3:3: unknown key 'colour' in 'log'; valid keys: level, format, statements"}},
        {"FlagSpellingIsNotAKey", "max-connections: 10\n",
         {"c.yaml:1:1: unknown key 'max-connections'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
          "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, "
          "admin_users"}},
        {"UnknownTlsKey", "tls:\n  certificate: /etc/ssl/a.pem\n",
         {"c.yaml:2:3: unknown key 'certificate' in 'tls'; valid keys: cert, key, ca, mode"}},
        {"UnknownUpstreamTlsKey", "upstream_tls:\n  cert: a.pem\n",
         {"c.yaml:2:3: unknown key 'cert' in 'upstream_tls'; valid keys: mode, ca"}},
        {"BadTlsMode", "tls: {mode: prefer}\n",
         {"c.yaml:1:13: unknown tls.mode value 'prefer'; valid values: disable, allow, require"}},
        {"BadUpstreamTlsMode", "upstream_tls:\n  mode: verify-ca\n",
         {"c.yaml:2:9: unknown upstream_tls.mode value 'verify-ca'; valid values: disable, prefer, require, "
          "verify-full"}},
        {"TlsNotAMap", "tls: on\n", {"c.yaml:1:6: 'tls' must be a map, got a scalar"}},
        {"EmptyTlsFileName", "tls:\n  cert: \"\"\n", {"c.yaml:2:9: 'tls.cert' must be a file name, got ''"}},
        {"FlagSpellingOfTlsIsNotAKey", "tls-cert: a.pem\n",
         {"c.yaml:1:1: unknown key 'tls-cert'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
          "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, "
          "admin_users"}},
        {"UnixSocketDirRelative", "unix_socket_dir: run/sockets\n",
         {"c.yaml:1:18: 'unix_socket_dir' must be an absolute directory path, got 'run/sockets'"}},
        {"UnixSocketDirEmpty", "unix_socket_dir: \"\"\n",
         {"c.yaml:1:18: 'unix_socket_dir' must be an absolute directory path, got ''"}},
        {"UnixSocketModeNotOctal", "unix_socket_mode: 0778\n",
         {"c.yaml:1:19: 'unix_socket_mode' must be permission bits in octal, such as \"0770\", got '0778'"}},
        {"UnixSocketModeTooLong", "unix_socket_mode: \"01777\"\n",
         {"c.yaml:1:19: 'unix_socket_mode' must be permission bits in octal, such as \"0770\", got '01777'"}},
        {"UnixSocketModeWord", "unix_socket_mode: rw\n",
         {"c.yaml:1:19: 'unix_socket_mode' must be permission bits in octal, such as \"0770\", got 'rw'"}},
        {"UnixSocketGroupEmpty", "unix_socket_group: \"\"\n",
         {"c.yaml:1:20: 'unix_socket_group' must be a group name or id, got ''"}},
        {"MetricsBadEndpoint", "metrics: 9187\n", {"c.yaml:1:10: 'metrics' expects HOST:PORT, got '9187'"}},
        {"AdminUsersNotAList", "admin_users: ops\n", {"c.yaml:1:14: 'admin_users' must be a list of role names, got a scalar"}},
        {"AdminUsersRepeated", "admin_users:\n  - ops\n  - ops\n", {"c.yaml:3:5: role 'ops' appears twice in 'admin_users'"}},
        {"AdminUsersEmptyName", "admin_users: [\"\"]\n", {"c.yaml:1:15: entries of 'admin_users' must be role names, got ''"}},
        {"NestedTlsIsJustUnknown", "log:\n  tls: x\n",
         {"c.yaml:2:3: unknown key 'tls' in 'log'; valid keys: level, format, statements"}},
        {"BadEndpoint", "upstream: localhost\n", {"c.yaml:1:11: 'upstream' expects HOST:PORT, got 'localhost'"}},
        {"PortOutOfRange", "listen: 127.0.0.1:70000\n",
         {"c.yaml:1:9: 'listen' expects HOST:PORT, got '127.0.0.1:70000'"}},
        {"UnquotedIpv6", "listen: [\"::1\"]\n",
         {"c.yaml:1:9: 'listen' must be a scalar, got a list (quote an IPv6 address: \"[::1]:5432\")"}},
        {"EmptyValueUsesKeyPosition", "upstream:\nthreads: 2\n", {"c.yaml:1:1: 'upstream' must be a scalar, got nothing"}},
        {"SectionNotAMap", "log: debug\n", {"c.yaml:1:6: 'log' must be a map, got a scalar"}},
        {"WrongTypeNested", "limits:\n  max_connections: [1, 2]\n",
         {"c.yaml:2:20: 'limits.max_connections' must be a scalar, got a list"}},
        {"NotANumber", "threads: four\n", {"c.yaml:1:10: 'threads' must be a whole number, got 'four'"}},
        {"NegativeNumber", "threads: -1\n", {"c.yaml:1:10: 'threads' must be a whole number, got '-1'"}},
        {"ZeroConnections", "limits:\n  max_connections: 0\n",
         {"c.yaml:2:20: 'limits.max_connections' must be between 1 and 18446744073709551615, got '0'"}},
        {"HugeNumber", "threads: 99999999999999999999999\n",
         {"c.yaml:1:10: 'threads' must be between 0 and 4294967295, got '99999999999999999999999'"}},
        {"MessageLimitTooSmall", "limits: {max_message_bytes: 4}\n",
         {"c.yaml:1:29: 'limits.max_message_bytes' must be between 5 and 1073741823, got '4'"}},
        {"BadLogLevel", "log:\n  level: loud\n",
         {"c.yaml:2:10: unknown log.level value 'loud'; valid values: trace, debug, info, warn, error"}},
        {"BadLogFormat", "log: {format: xml}\n",
         {"c.yaml:1:15: unknown log.format value 'xml'; valid values: text, json"}},
        {"TimeoutWithUnit", "timeouts:\n  startup: 10s\n",
         {"c.yaml:2:12: 'timeouts.startup' must be a number of seconds, got '10s'"}},
        {"TimeoutNotANumber", "timeouts: {connect: .nan}\n",
         {"c.yaml:1:21: 'timeouts.connect' must be a number of seconds, got '.nan'"}},
        {"ZeroStartupTimeout", "timeouts: {startup: 0}\n",
         {"c.yaml:1:21: 'timeouts.startup' must be above 0 and at most 86400 seconds, got '0'"}},
        {"HugeShutdownTimeout", "timeouts: {shutdown: 1000000}\n",
         {"c.yaml:1:22: 'timeouts.shutdown' must be at least 0 and at most 86400 seconds, got '1000000'"}},
        {"DuplicateKey", "threads: 1\nthreads: 2\n", {"c.yaml:2:1: duplicate key 'threads' (first at line 1)"}},
        {"DuplicateNestedKey", "log:\n  level: info\n  level: debug\n",
         {"c.yaml:3:3: duplicate key 'log.level' (first at line 2)"}},
        {"RootIsAList", "- listen: 127.0.0.1:1\n", {"c.yaml:1:1: config file must be a map of settings, got a list"}},
        {"RootIsAScalar", "hello\n", {"c.yaml:1:1: config file must be a map of settings, got a scalar"}},
        {"NonScalarKey", "? [a, b]\n: 1\n", {"c.yaml:1:3: keys must be plain names, got a list"}},
        {"SyntaxError", "log:\n  level: [info\n", {"c.yaml:3:1: YAML syntax error: end of sequence flow not found"}},
        {"TwoDocuments", "threads: 1\n---\nthreads: 2\n", {"c.yaml:2:1: config file has more than one YAML document"}},
        // yaml-cpp 0.7's LoadAll would loop forever on these (issue #1040).
        {"StrayCommaAfterFlowMap", "{threads: 1}\n,\n", {"c.yaml:2:1: YAML syntax error: unexpected ','"}},
        {"StrayCommaOnly", ",\n", {"c.yaml:1:1: YAML syntax error: unexpected ','"}},
        {"ControlBytesShownEscaped", "rules: \"a\\x01b\"\nbogus\x7f: 1\n",
         {"c.yaml:2:1: unknown key 'bogus\\x7f'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
          "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, "
          "admin_users"}},
        {"EveryProblemInOneRun", "listen: nowhere\nlog: {level: loud}\nextra: 1\n",
         {"c.yaml:1:9: 'listen' expects HOST:PORT, got 'nowhere'",
          "c.yaml:2:14: unknown log.level value 'loud'; valid values: trace, debug, info, warn, error",
          "c.yaml:3:1: unknown key 'extra'; valid keys: listen, unix_socket_dir, unix_socket_mode, "
          "unix_socket_group, upstream, rules, threads, log, limits, timeouts, tls, upstream_tls, metrics, "
          "admin_users"}},
    };
}

class InvalidConfig : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidConfig, ReportsExactlyTheseProblems) {
    const auto result = load_config_text(GetParam().text, "c.yaml");
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(result.settings.has_value());
    std::vector<std::string> lines;
    for (const auto& problem : result.problems) {
        lines.push_back(problem.to_string());
    }
    EXPECT_THAT(lines, testing::ElementsAreArray(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(ConfigFile, InvalidConfig, testing::ValuesIn(invalid_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ConfigFileSize, LargerThanTheLimitIsRefusedWithoutParsing) {
    const std::string text = "# " + std::string(max_config_file_bytes, 'x') + "\n";
    const auto result = load_config_text(text, "big.yaml");
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems.front().to_string(), "big.yaml: config file is larger than 262144 bytes");
}

class ConfigFileOnDisk : public testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("staleguard-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        const auto path = dir_ / name;
        std::ofstream(path, std::ios::binary) << text;
        return path.string();
    }

    std::filesystem::path dir_;
};

TEST_F(ConfigFileOnDisk, RelativeRulesPathIsResolvedNextToTheConfigFile) {
    const auto result = load_config_file(write("staleguard.yaml", "rules: conf.d/rules.yaml\n"));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(*result.settings->rules_file, (dir_ / "conf.d/rules.yaml").string());
}

TEST_F(ConfigFileOnDisk, AbsoluteRulesPathIsKept) {
    const auto result = load_config_file(write("staleguard.yaml", "rules: /etc/staleguard/rules.yaml\n"));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(*result.settings->rules_file, "/etc/staleguard/rules.yaml");
}

TEST_F(ConfigFileOnDisk, RelativeTlsFilesAreResolvedNextToTheConfigFile) {
    const auto result = load_config_file(write(
        "staleguard.yaml", "tls: {cert: tls/server.pem, key: tls/server.key, ca: /etc/ca.pem}\nupstream_tls: {ca: db-ca.pem}\n"));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(*result.settings->tls_cert_file, (dir_ / "tls/server.pem").string());
    EXPECT_EQ(*result.settings->tls_key_file, (dir_ / "tls/server.key").string());
    EXPECT_EQ(*result.settings->tls_ca_file, "/etc/ca.pem");
    EXPECT_EQ(*result.settings->upstream_tls_ca_file, (dir_ / "db-ca.pem").string());
}

TEST_F(ConfigFileOnDisk, ProblemsNameThePathAsGiven) {
    const std::string path = write("bad.yaml", "threads: x\n");
    const auto result = load_config_file(path);
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems.front().to_string(), path + ":1:10: 'threads' must be a whole number, got 'x'");
}

TEST_F(ConfigFileOnDisk, MissingFileIsAProblemWithoutPosition) {
    const std::string path = (dir_ / "absent.yaml").string();
    const auto result = load_config_file(path);
    ASSERT_EQ(result.problems.size(), 1u);
    EXPECT_EQ(result.problems.front().to_string(), path + ": cannot open config file: No such file or directory");
}

TEST(ParseSocketMode, TakesThreeOctalDigitsWithAnOptionalLeadingZero) {
    const std::vector<std::pair<std::string_view, std::optional<unsigned>>> cases = {
        {"0777", 0777u}, {"777", 0777u}, {"0770", 0770u}, {"0700", 0700u}, {"000", 0u}, {"0000", 0u},
        {"", std::nullopt}, {"77", std::nullopt}, {"0o770", std::nullopt}, {"1777", std::nullopt},
        {"01777", std::nullopt}, {"0778", std::nullopt}, {"-777", std::nullopt}, {" 770", std::nullopt},
        {"0x1ff", std::nullopt}, {"rwx", std::nullopt},
    };
    for (const auto& [text, expected] : cases) EXPECT_EQ(parse_socket_mode(text), expected) << "'" << text << "'";
}

}  // namespace
}  // namespace staleguard::session
