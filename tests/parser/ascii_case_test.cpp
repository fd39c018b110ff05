// ascii_case.hpp: PostgreSQL's folding of keywords and unquoted identifiers, ASCII letters only.
#include "parser/ascii_case.hpp"

#include <clocale>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace staleguard::parser {
namespace {

TEST(AsciiCase, LowersAsciiLettersOnly) {
    EXPECT_EQ(ascii_lowered("SELECT Foo_9$"), "select foo_9$");
    EXPECT_EQ(ascii_lowered("ÄÖÜ É"), "ÄÖÜ É");  // bytes past ASCII stay as they are, in any locale
    EXPECT_EQ(ascii_lowered("@[`{"), "@[`{");     // the neighbours of A-Z and a-z
    EXPECT_EQ(ascii_lowered(""), "");
}

TEST(AsciiCase, NonAsciiBytesAreNotFoldedUnderALatin1Locale) {
    // std::tolower would fold 0xC4 to 0xE4 under a Latin-1 locale; PostgreSQL's UTF-8 folding does not.
    const char* previous = std::setlocale(LC_CTYPE, nullptr);
    const std::string saved = previous ? previous : "C";
    const bool switched = std::setlocale(LC_CTYPE, "de_DE.ISO-8859-1") != nullptr ||
                          std::setlocale(LC_CTYPE, "en_US.ISO-8859-1") != nullptr;
    EXPECT_EQ(ascii_lowered("\xC4"), "\xC4") << (switched ? "latin-1 locale" : "C locale");
    std::setlocale(LC_CTYPE, saved.c_str());
}

struct MatchCase {
    std::string_view text;
    std::string_view lower_word;
    bool equals;
    bool starts_with;
};

TEST(AsciiCase, EqualsAndStartsWith) {
    const std::vector<MatchCase> cases = {
        {"select", "select", true, true},     {"SeLeCt", "select", true, true},
        {"SELECTED", "select", false, true},  {"SELEC", "select", false, false},
        {"", "select", false, false},         {"", "", true, true},
        {"Set_Config", "set_config", true, true}, {"sélect", "select", false, false},
        // The word must be given in lower case: an upper-case word never matches.
        {"SELECT", "SELECT", false, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(equals_ignoring_ascii_case(c.text, c.lower_word), c.equals) << c.text << " / " << c.lower_word;
        EXPECT_EQ(starts_with_ignoring_ascii_case(c.text, c.lower_word), c.starts_with) << c.text << " / " << c.lower_word;
    }
}

TEST(AsciiCase, FindsTheFirstOccurrenceFromAnOffset) {
    EXPECT_EQ(find_ignoring_ascii_case("PREPARE p AS SELECT 1; EXECUTE p", "execute"), 23u);
    EXPECT_EQ(find_ignoring_ascii_case("Execute a; execute b", "execute", 1), 11u);
    EXPECT_EQ(find_ignoring_ascii_case("select 1", "execute"), std::string_view::npos);
    EXPECT_EQ(find_ignoring_ascii_case("abc", "", 0), std::string_view::npos);
    EXPECT_EQ(find_ignoring_ascii_case("abc", "c", 4), std::string_view::npos);
    EXPECT_EQ(find_ignoring_ascii_case("abC", "c", 3), std::string_view::npos);
    EXPECT_EQ(find_ignoring_ascii_case("abC", "c", 2), 2u);
}

}  // namespace
}  // namespace staleguard::parser
