// Tests for JSON escaping of log messages: every line must stay one valid JSON object whatever a client sent.
#include "proxy/log_format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace staleguard::session {
namespace {

struct EscapeCase {
    const char* name;
    std::string input;
    std::string escaped;
};

const EscapeCase kEscapeCases[] = {
    {"Plain", "session opened user=app", "session opened user=app"},
    {"QuoteAndBackslash", R"(name "a\b")", R"(name \"a\\b\")"},
    {"NewlineTabReturn", "a\nb\tc\rd", R"(a\nb\tc\rd)"},
    {"OtherControlBytes", std::string("a\x01" "b\x1f" "c\x7f", 6), R"(a\u0001b\u001fc\u007f)"},
    {"NulByte", std::string("a\0b", 3), R"(a\u0000b)"},
    {"ValidUtf8KeptAsIs", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"LoneContinuationByte", "a\x80z", R"(a\ufffdz)"},
    {"TruncatedSequence", "a\xe2\x82", R"(a\ufffd\ufffd)"},
    {"OverlongTwoByte", "\xc0\xaf", R"(\ufffd\ufffd)"},
    {"OverlongThreeByte", "\xe0\x80\xaf", R"(\ufffd\ufffd\ufffd)"},
    {"Utf16Surrogate", "\xed\xa0\x80", R"(\ufffd\ufffd\ufffd)"},
    {"BeyondUnicode", "\xf4\x90\x80\x80", R"(\ufffd\ufffd\ufffd\ufffd)"},
    {"Empty", "", ""},
};

class JsonEscape : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(JsonEscape, EscapesForOneJsonString) {
    std::string out = "prefix:";
    append_json_escaped(GetParam().input, out);
    EXPECT_EQ(out, "prefix:" + GetParam().escaped);
}

INSTANTIATE_TEST_SUITE_P(Cases, JsonEscape, ::testing::ValuesIn(kEscapeCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staleguard::session
