// HOST:PORT parsing, as given to --listen and --upstream.
#include "proxy/endpoint.hpp"

#include <gtest/gtest.h>

namespace staleguard::session {
namespace {

struct EndpointCase {
    const char* name;
    const char* text;
    bool valid;
    const char* host = "";
    std::uint16_t port = 0;
    const char* socket_path = nullptr;  // set exactly for a Unix-socket directory
};

class EndpointParse : public ::testing::TestWithParam<EndpointCase> {};

TEST_P(EndpointParse, Parses) {
    const auto& c = GetParam();
    auto endpoint = Endpoint::parse(c.text);
    ASSERT_EQ(endpoint.has_value(), c.valid);
    if (!c.valid) return;
    EXPECT_EQ(endpoint->host, c.host);
    EXPECT_EQ(endpoint->port, c.port);
    EXPECT_EQ(Endpoint::parse(endpoint->to_string())->host, c.host);
    EXPECT_EQ(endpoint->is_unix_socket(), c.socket_path != nullptr);
    if (c.socket_path != nullptr) {
        EXPECT_EQ(endpoint->socket_path(), c.socket_path);
    }
}

const EndpointCase kCases[] = {
    {"Ipv4", "127.0.0.1:5432", true, "127.0.0.1", 5432},
    {"Hostname", "db.internal:6432", true, "db.internal", 6432},
    {"Ipv6Bracketed", "[::1]:5432", true, "::1", 5432},
    {"MaxPort", "localhost:65535", true, "localhost", 65535},
    {"NoPort", "localhost", false},
    {"EmptyPort", "localhost:", false},
    {"EmptyHost", ":5432", false},
    {"PortZero", "localhost:0", false},
    {"PortTooLarge", "localhost:65536", false},
    {"PortNotNumber", "localhost:pg", false},
    {"PortTrailingJunk", "localhost:54x", false},
    {"Ipv6Unbracketed", "::1:5432", false},
    {"Ipv6Unclosed", "[::1:5432", false},
    {"SocketDirectory", "/var/run/postgresql:5432", true, "/var/run/postgresql", 5432,
     "/var/run/postgresql/.s.PGSQL.5432"},
    {"SocketDirectoryTrailingSlash", "/tmp/:6432", true, "/tmp/", 6432, "/tmp/.s.PGSQL.6432"},
    {"SocketDirectoryRoot", "/:5432", true, "/", 5432, "/.s.PGSQL.5432"},
    {"SocketDirectoryNoPort", "/var/run/postgresql", false},
    {"RelativeDirectoryIsAHostName", "run/pg:5432", true, "run/pg", 5432},
};

INSTANTIATE_TEST_SUITE_P(Cases, EndpointParse, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staleguard::session
