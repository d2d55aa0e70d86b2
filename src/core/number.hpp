// Strict decimal parsing: digits only, no sign, no spaces, no overflow.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace apikey {

inline std::optional<std::int64_t> parse_decimal(std::string_view s) noexcept {
    if (s.empty() || s.size() > 18) {  // 18 digits cannot overflow int64
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

}  // namespace apikey
