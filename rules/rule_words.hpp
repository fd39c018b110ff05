// The rule file's words for each setting's values: the loader reads them, SHOW RULES and the schema helper print them.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

template <class E>
struct EnumSpelling {
    std::string_view word;
    E value;
};

inline constexpr std::array<EnumSpelling<VersionKind>, 3> kind_spellings{
    {{"counter", VersionKind::Counter}, {"timestamp", VersionKind::Timestamp}, {"xmin", VersionKind::Xmin}}};
inline constexpr std::array<EnumSpelling<Mode>, 3> mode_spellings{
    {{"track", Mode::Track}, {"client", Mode::Client}, {"increment", Mode::Increment}}};
inline constexpr std::array<EnumSpelling<UnreadPolicy>, 2> unread_spellings{
    {{"allow", UnreadPolicy::Allow}, {"reject", UnreadPolicy::Reject}}};
inline constexpr std::array<EnumSpelling<DeletePolicy>, 2> delete_spellings{
    {{"check", DeletePolicy::Check}, {"allow", DeletePolicy::Allow}}};
inline constexpr std::array<EnumSpelling<UnanalysablePolicy>, 2> unanalysable_spellings{
    {{"reject", UnanalysablePolicy::Reject}, {"pass", UnanalysablePolicy::Pass}}};
inline constexpr std::array<EnumSpelling<BumpedBy>, 2> bumped_by_spellings{
    {{"staleguard", BumpedBy::Staleguard}, {"trigger", BumpedBy::Trigger}}};

template <class E, std::size_t N>
constexpr std::string_view word_in(const std::array<EnumSpelling<E>, N>& spellings, E value) {
    for (const auto& spelling : spellings) {
        if (spelling.value == value) return spelling.word;
    }
    return "?";
}

constexpr std::string_view word_of(VersionKind kind) { return word_in(kind_spellings, kind); }
constexpr std::string_view word_of(Mode mode) { return word_in(mode_spellings, mode); }
constexpr std::string_view word_of(UnreadPolicy policy) { return word_in(unread_spellings, policy); }
constexpr std::string_view word_of(DeletePolicy policy) { return word_in(delete_spellings, policy); }
constexpr std::string_view word_of(UnanalysablePolicy policy) { return word_in(unanalysable_spellings, policy); }
constexpr std::string_view word_of(BumpedBy bumped_by) { return word_in(bumped_by_spellings, bumped_by); }

}  // namespace staleguard::rules
