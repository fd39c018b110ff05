// PostgreSQL identifier folding, validation and quoting as rule files use them.
#include "rules/identifier.hpp"

#include <string>

#include <gtest/gtest.h>

namespace staleguard::rules {
namespace {

struct IdentifierCase {
    std::string name;
    std::string text;
    std::string expected;  // the identifier, or the error message when `valid` is false
    bool valid;
};

class ParseIdentifier : public testing::TestWithParam<IdentifierCase> {};

TEST_P(ParseIdentifier, FoldsOrRejects) {
    const auto& c = GetParam();
    const auto result = parse_identifier(c.text);
    ASSERT_EQ(result.ok(), c.valid) << (result.ok() ? result.value() : result.error().message);
    EXPECT_EQ(result.ok() ? result.value() : result.error().message, c.expected);
}

const std::string name_63(63, 'a');
const std::string name_64(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseIdentifier,
    testing::Values(
        IdentifierCase{"lower", "balance", "balance", true},
        IdentifierCase{"upper_folds", "BaLaNcE", "balance", true},
        IdentifierCase{"underscore_digits_dollar", "_a1$", "_a1$", true},
        IdentifierCase{"quoted_keeps_case", "\"Balance\"", "Balance", true},
        IdentifierCase{"quoted_doubled_quote", "\"a\"\"b\"", "a\"b", true},
        IdentifierCase{"quoted_space_and_dot", "\"a b.c\"", "a b.c", true},
        IdentifierCase{"quoted_digit_start", "\"1a\"", "1a", true},
        IdentifierCase{"utf8_letters_kept", "Größe", "größe", true},
        IdentifierCase{"exactly_63_bytes", name_63, name_63, true},
        IdentifierCase{"keyword_allowed", "user", "user", true},
        IdentifierCase{"empty", "", "is empty", false},
        IdentifierCase{"digit_start", "1a", "starts with a digit", false},
        IdentifierCase{"dollar_start", "$a", "starts with '$'", false},
        IdentifierCase{"hyphen", "a-b", "contains invalid character '-'", false},
        IdentifierCase{"space", "a b", "contains invalid character ' '", false},
        IdentifierCase{"control_byte", "a\tb", "contains invalid character '\\x09'", false},
        IdentifierCase{"unterminated_quote", "\"abc", "has an unterminated quoted part", false},
        IdentifierCase{"lone_quote", "\"", "has an unterminated quoted part", false},
        IdentifierCase{"empty_quotes", "\"\"", "has an empty quoted part", false},
        IdentifierCase{"text_after_quote", "\"a\"b", "has characters after a closing quote", false},
        IdentifierCase{"quote_inside_bare", "a\"b\"", "has a quote inside an unquoted part", false},
        IdentifierCase{"nul_in_quotes", std::string("\"a\0b\"", 5), "contains a NUL byte", false},
        IdentifierCase{"dotted", "a.b", "must be a single name, not a dotted path", false},
        IdentifierCase{"trailing_dot", "a.", "has an empty part", false},
        IdentifierCase{"leading_dot", ".a", "has an empty part", false},
        IdentifierCase{"too_long", name_64, "is longer than 63 bytes", false},
        IdentifierCase{"too_long_quoted", "\"" + name_64 + "\"", "is longer than 63 bytes", false}),
    [](const auto& info) { return info.param.name; });

struct QualifiedCase {
    std::string name;
    std::string text;
    QualifiedName expected;
    std::string error;  // empty when valid
};

class ParseQualifiedName : public testing::TestWithParam<QualifiedCase> {};

TEST_P(ParseQualifiedName, SplitsFoldsAndDefaultsSchema) {
    const auto& c = GetParam();
    const auto result = parse_qualified_name(c.text);
    if (c.error.empty()) {
        ASSERT_TRUE(result.ok()) << result.error().message;
        EXPECT_EQ(result.value(), c.expected);
    } else {
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.error().message, c.error);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseQualifiedName,
    testing::Values(QualifiedCase{"bare_is_public", "Accounts", {"public", "accounts"}, ""},
                    QualifiedCase{"qualified", "Billing.Accounts", {"billing", "accounts"}, ""},
                    QualifiedCase{"quoted_name", "billing.\"Accounts\"", {"billing", "Accounts"}, ""},
                    QualifiedCase{"quoted_schema", "\"Billing\".accounts", {"Billing", "accounts"}, ""},
                    QualifiedCase{"dot_inside_quotes", "\"a.b\"", {"public", "a.b"}, ""},
                    QualifiedCase{"three_parts", "db.s.t", {}, "has more than 2 dot-separated parts"},
                    QualifiedCase{"empty_schema", ".t", {}, "has an empty part"},
                    QualifiedCase{"double_dot", "s..t", {}, "has an empty part"},
                    QualifiedCase{"space_after_dot", "s. t", {}, "contains invalid character ' '"},
                    QualifiedCase{"bad_schema", "1s.t", {}, "starts with a digit"}),
    [](const auto& info) { return info.param.name; });

TEST(ParseQualifiedName, UsesTheGivenDefaultSchema) {
    const auto result = parse_qualified_name("t", "app");
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.value(), (QualifiedName{"app", "t"}));
}

struct QuoteCase {
    std::string name;
    std::string identifier;
    std::string expected;
};

class QuoteIdentifier : public testing::TestWithParam<QuoteCase> {};

TEST_P(QuoteIdentifier, QuotesAndReadsBackUnchanged) {
    const auto& c = GetParam();
    EXPECT_EQ(quote_identifier(c.identifier), c.expected);
    // What we print must name the same identifier when read back by the same rules.
    const auto reread = parse_identifier(quote_identifier(c.identifier));
    ASSERT_TRUE(reread.ok()) << reread.error().message;
    EXPECT_EQ(reread.value(), c.identifier);
}

INSTANTIATE_TEST_SUITE_P(Cases, QuoteIdentifier,
                         testing::Values(QuoteCase{"plain", "balance", "balance"},
                                         QuoteCase{"upper", "Balance", "\"Balance\""},
                                         QuoteCase{"reserved", "select", "\"select\""},
                                         QuoteCase{"column_name_keyword", "timestamp", "\"timestamp\""},
                                         QuoteCase{"unreserved_keyword", "version", "version"},
                                         QuoteCase{"quote", "a\"b", "\"a\"\"b\""},
                                         QuoteCase{"dot", "a.b", "\"a.b\""},
                                         QuoteCase{"digit_start", "1a", "\"1a\""},
                                         QuoteCase{"utf8", "größe", "\"größe\""}),
                         [](const auto& info) { return info.param.name; });

TEST(ReservedKeywords, CoverTheCommonReservedWords) {
    for (const char* word : {"select", "from", "where", "user", "table", "order", "group", "all", "primary"}) {
        EXPECT_TRUE(is_reserved_keyword(word)) << word;
    }
    for (const char* word : {"accounts", "version", "id", "name", "key", "data"}) {
        EXPECT_FALSE(is_reserved_keyword(word)) << word;
    }
}

TEST(Printable, EscapesControlBytesOnly) {
    EXPECT_EQ(printable("a\nb\x7f" "c"), "a\\x0ab\\x7fc");
    EXPECT_EQ(printable("größe \"x\""), "größe \"x\"");
}

}  // namespace
}  // namespace staleguard::rules
