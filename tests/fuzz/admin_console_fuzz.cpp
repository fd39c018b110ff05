// libFuzzer target: the admin console's pure part. The input is a Query's text and, after the
// first NUL, the strings a client controls that SHOW SESSIONS and RELOAD print back (user,
// database, application address, a rule file's problems). Whatever the bytes, a command string is
// either wholly understood or refused with one 42601 error, and every answer splits into whole
// backend messages that decode, with as many cells per row as the RowDescription has columns.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin_console.hpp"
#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frame.hpp"
#include "proxy/codec/message_tag.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace staleguard::session {
namespace {

// The messages of one answer: their tags, and the SQLSTATE of each ErrorResponse.
struct Answer {
    std::string tags;
    std::vector<std::string> error_codes;
};

// Splits bytes into backend messages; every one must decode.
Answer check_messages(const std::vector<std::uint8_t>& bytes) {
    wire::FrameReader reader(wire::FrameLimits{});
    wire::Bytes rest(bytes.data(), bytes.size());
    Answer answer;
    std::size_t columns = 0;
    while (!rest.empty()) {
        auto outcome = reader.next(rest, wire::FramePhase::Tagged);
        FUZZ_REQUIRE(outcome.is_frame());
        const auto& frame = outcome.frame;
        FUZZ_REQUIRE(wire::validate_backend_frame(frame).ok());
        switch (frame.tag) {
            case 'T': {
                auto description = wire::RowDescription::decode(frame);
                FUZZ_REQUIRE(static_cast<bool>(description));
                columns = description->fields.size();
                break;
            }
            case 'D': {
                auto row = wire::DataRow::decode(frame);
                FUZZ_REQUIRE(static_cast<bool>(row) && row->columns.size() == columns);
                break;
            }
            case 'E': {
                auto error = wire::ErrorResponse::decode(frame);
                FUZZ_REQUIRE(static_cast<bool>(error) && !error->get(wire::field::Code).empty());
                answer.error_codes.emplace_back(error->get(wire::field::Code));
                break;
            }
            case 'N': {
                auto notice = wire::NoticeResponse::decode(frame);
                FUZZ_REQUIRE(static_cast<bool>(notice) && !notice->get(wire::field::Code).empty());
                break;
            }
            default: break;
        }
        answer.tags += frame.tag;
        rest = rest.subspan(frame.bytes.size());
    }
    return answer;
}

std::size_t statements_in(std::string_view sql) {
    std::size_t count = 0;
    std::size_t start = 0;
    while (start <= sql.size()) {
        std::size_t end = sql.find(';', start);
        if (end == std::string_view::npos) end = sql.size();
        if (sql.substr(start, end - start).find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) ++count;
        start = end + 1;
    }
    return count;
}

// The parts after the query, split at NUL: user, database, client address, problems...
std::vector<std::string> fields_of(std::string_view rest) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    while (start < rest.size() && fields.size() < 8) {
        std::size_t end = rest.find('\0', start);
        if (end == std::string_view::npos) end = rest.size();
        fields.emplace_back(rest.substr(start, end - start));
        start = end + 1;
    }
    while (fields.size() < 4) fields.emplace_back();
    return fields;
}

}  // namespace
}  // namespace staleguard::session

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace staleguard::session;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string_view sql = input.substr(0, nul);

    const AdminQuery query = parse_admin_query(sql);
    if (!query.error.empty()) {
        FUZZ_REQUIRE(query.commands.empty());
        const Answer refused = check_messages(query.error);
        FUZZ_REQUIRE(refused.tags == "E" && refused.error_codes == std::vector<std::string>{"42601"});
        return 0;
    }
    FUZZ_REQUIRE(query.commands.size() == statements_in(sql));

    const auto fields = fields_of(nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1));
    AdminData shown;
    shown.sessions.push_back(AdminSessionRow{1, fields[2], fields[0], fields[1], "no", "idle",
                                            std::chrono::system_clock::time_point(std::chrono::seconds(size)),
                                            size, size * 3, size % 7, size % 11});
    shown.version = fields[3];
    shown.rules_path = fields[3];
    shown.metrics.stale_writes = {{fields[1], size}};
    for (const AdminCommand command : query.commands) {
        if (command == AdminCommand::Reload) {
            const std::vector<std::string> problems(fields.begin() + 3, fields.end());
            FUZZ_REQUIRE(check_messages(answer_reload(true, {}, fields[3])).tags == "C");
            const Answer refused = check_messages(answer_reload(false, problems, fields[3]));
            FUZZ_REQUIRE(refused.tags == "E" && refused.error_codes == std::vector<std::string>{"F0000"});
            continue;
        }
        const std::string tags = check_messages(answer_show(command, shown)).tags;
        FUZZ_REQUIRE(!tags.empty() && tags.back() == 'C');
    }
    return 0;
}
