// Durations and timestamps as people write and read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace apikey {

// nginx-style durations in whole seconds: "90d", "12h", "1h30m", "2w", "1y", "45"
// (bare numbers are seconds). Units: s m h d w y (y = 365d). Rejects zero.
std::optional<std::int64_t> parse_duration(std::string_view text) noexcept;

// "2026-11-23T11:08:13Z"
std::string format_utc(std::int64_t unix_seconds);

// "3 days ago", "in 2 hours", "just now"
std::string format_relative(std::int64_t unix_seconds, std::int64_t now);

}  // namespace apikey
