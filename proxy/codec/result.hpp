// Must-check result of decoding untrusted bytes: a value, or why the bytes are malformed.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace staleguard::wire {

struct CodecError {
    std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
    Result(CodecError error) : state_(std::move(error)) {}   // NOLINT(google-explicit-constructor)

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<T>(state_); }
    const T& value() const& { return std::get<T>(state_); }
    T&& value() && { return std::get<T>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const CodecError& error() const { return std::get<CodecError>(state_); }

private:
    std::variant<T, CodecError> state_;
};

inline CodecError codec_error(std::string message) { return CodecError{std::move(message)}; }

}  // namespace staleguard::wire
