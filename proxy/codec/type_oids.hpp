// PostgreSQL's built-in type OIDs (pg_type.dat) that staleguard names in a RowDescription or reads in binary form.
#pragma once

#include <cstdint>

namespace staleguard::wire::type_oid {

inline constexpr std::uint32_t boolean = 16;
inline constexpr std::uint32_t name = 19;
inline constexpr std::uint32_t int8 = 20;
inline constexpr std::uint32_t int2 = 21;
inline constexpr std::uint32_t int4 = 23;
inline constexpr std::uint32_t text = 25;
inline constexpr std::uint32_t oid = 26;
inline constexpr std::uint32_t bpchar = 1042;
inline constexpr std::uint32_t varchar = 1043;
inline constexpr std::uint32_t date = 1082;
inline constexpr std::uint32_t time = 1083;
inline constexpr std::uint32_t timestamp = 1114;
inline constexpr std::uint32_t timestamptz = 1184;
inline constexpr std::uint32_t numeric = 1700;
inline constexpr std::uint32_t uuid = 2950;

}  // namespace staleguard::wire::type_oid
