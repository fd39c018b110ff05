// Test support: an encoded ErrorResponse read back, for tests of what the proxy answers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frame.hpp"

namespace staleguard::session::testing {

inline wire::ErrorResponse decode_error(const std::vector<std::uint8_t>& encoded) {
    const wire::FrameReader reader(wire::FrameLimits{});
    const auto outcome = reader.next(wire::Bytes(encoded), wire::FramePhase::Tagged);
    EXPECT_TRUE(outcome.is_frame());
    auto error = wire::ErrorResponse::decode(outcome.frame);
    EXPECT_TRUE(error.ok());
    return error.ok() ? error.value() : wire::ErrorResponse{};
}

}  // namespace staleguard::session::testing
