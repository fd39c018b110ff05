// libFuzzer target: binary key values of every decoded type, as a client may bind them.
// Integers must print as what parses back to the same bytes; numerics as numeric_out would
// (a sign, an integer part without leading zeros, exactly dscale fractional digits).
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/codec/binary_values.hpp"
#include "proxy/codec/type_oids.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace staleguard::wire {
namespace {

constexpr std::uint32_t kTypes[] = {type_oid::boolean, type_oid::int2,    type_oid::int4, type_oid::int8,
                                    type_oid::oid,     type_oid::text,    type_oid::varchar, type_oid::name,
                                    type_oid::bpchar,  type_oid::numeric, type_oid::uuid, type_oid::timestamptz};

template <class Integer>
void integer_round_trips(const std::string& text, Bytes value) {
    Integer parsed{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    FUZZ_REQUIRE(error == std::errc() && end == text.data() + text.size());
    auto bits = static_cast<std::uint64_t>(parsed);
    for (std::size_t i = value.size(); i-- > 0;) {
        FUZZ_REQUIRE(value[i] == static_cast<std::uint8_t>(bits & 0xff));
        bits >>= 8;
    }
}

void numeric_is_well_formed(const std::string& text, Bytes value) {
    if (text == "NaN" || text == "Infinity" || text == "-Infinity") return;
    const auto dscale = static_cast<std::int16_t>((value[6] << 8) | value[7]);
    std::size_t i = text[0] == '-' ? 1 : 0;
    const std::size_t integer_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    FUZZ_REQUIRE(i > integer_start);
    FUZZ_REQUIRE(text[integer_start] != '0' || i == integer_start + 1);
    if (dscale == 0) {
        FUZZ_REQUIRE(i == text.size());
        return;
    }
    FUZZ_REQUIRE(i < text.size() && text[i] == '.');
    const std::size_t fraction = text.size() - i - 1;
    FUZZ_REQUIRE(fraction == static_cast<std::size_t>(dscale));
    for (++i; i < text.size(); ++i) FUZZ_REQUIRE(text[i] >= '0' && text[i] <= '9');
}

}  // namespace
}  // namespace staleguard::wire

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace staleguard::wire;
    if (size < 1) return 0;
    const std::uint32_t type = kTypes[data[0] % std::size(kTypes)];
    const Bytes value(data + 1, size - 1);
    const auto text = binary_value_text(value, type);
    if (!text) return 0;
    switch (type) {
        case type_oid::int2: integer_round_trips<std::int16_t>(*text, value); break;
        case type_oid::int4: integer_round_trips<std::int32_t>(*text, value); break;
        case type_oid::int8: integer_round_trips<std::int64_t>(*text, value); break;
        case type_oid::oid: integer_round_trips<std::uint32_t>(*text, value); break;
        case type_oid::numeric: numeric_is_well_formed(*text, value); break;
        case type_oid::uuid: FUZZ_REQUIRE(text->size() == 36); break;
        case type_oid::timestamptz: FUZZ_REQUIRE(false); break;  // depends on settings: never decoded
        default: break;
    }
    return 0;
}
