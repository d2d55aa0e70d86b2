// A strict JSON reader (RFC 8259) for the admin API's request bodies: they are
// untrusted input, so it bounds depth and size, rejects anything malformed
// (trailing commas, comments, lone surrogates, invalid UTF-8, duplicate keys),
// and never throws.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apikey {

struct JsonValue {
    enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

    Type type = Type::kNull;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<JsonValue> array;
    std::vector<std::pair<std::string, JsonValue>> object;

    // nullptr when absent (objects only)
    const JsonValue* find(std::string_view key) const noexcept;
};

inline constexpr std::size_t kMaxJsonDepth = 16;

// Parses a whole document. On failure returns nullopt and describes the first
// problem in `error` ("unexpected character at offset 12", ...).
std::optional<JsonValue> parse_json(std::string_view text, std::string& error) noexcept;

}  // namespace apikey
