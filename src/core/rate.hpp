// Rate limits as written by people ("100r/m burst=10", "600r/m:50") and as the
// bucket arithmetic needs them (an emission interval in microseconds and a capacity).
#pragma once

#include <cstdint>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apikey {

// Limits chosen so that every quantity the check script computes stays an exact
// integer in a Lua double (below 2^53 microseconds, about 285 years).
inline constexpr std::int64_t kMaxBurst = 1000000;
inline constexpr std::int64_t kMaxWindowUs = 1000000000000000;  // burst * interval
inline constexpr std::int64_t kMaxIntervalUs = 86400LL * 1000000;  // 1r/d

struct Limit {
    std::int64_t count = 0;   // N of "Nr/u"
    char unit = 's';          // s, m, h or d
    std::int64_t burst = 0;   // bucket capacity, in requests

    // Microseconds between two tokens: floor(period / count). The Lua script
    // computes the same floor from the same integers, so both sides agree.
    std::int64_t interval_us() const noexcept;
    std::int64_t period_seconds() const noexcept;

    // "100r/m:10": the stored form of a key's own limit.
    std::string to_string() const;
    bool operator==(const Limit& other) const noexcept {
        return count == other.count && unit == other.unit && burst == other.burst;
    }
};

// Seconds per unit letter, or 0 for an unknown unit.
std::int64_t unit_seconds(char unit) noexcept;

// Parses "Nr/s", "Nr/m", "Nr/h" or "Nr/d" into count and unit (burst left 0).
std::optional<Limit> parse_rate(std::string_view text) noexcept;

// Fills in the default burst (one period's worth) and checks the limits above.
// Returns an error message, or an empty string when the limit is usable.
std::string finish_limit(Limit& limit);

// Parses "RATE[:BURST]" (the CLI's --limit and the stored `limits` field item).
// On failure returns nullopt and sets `error`.
std::optional<Limit> parse_limit(std::string_view text, std::string& error);

// Parses the stored `limits` field: space-separated "RATE:BURST" items.
std::optional<std::vector<Limit>> parse_limit_list(std::string_view text, std::string& error);

std::string format_limit_list(const std::vector<Limit>& limits);

// A key's own limits (or its plan's), parsed on every request of such a key:
// into a fixed array, never the heap (issue 16). A record holds at most 8.
inline constexpr std::size_t kMaxOwnLimits = 8;
struct OwnLimits {
    std::array<Limit, kMaxOwnLimits> items{};
    std::size_t count = 0;
    const Limit* begin() const noexcept { return items.data(); }
    const Limit* end() const noexcept { return items.data() + count; }
    bool empty() const noexcept { return count == 0; }
};

// As parse_limit_list; false (and no limits) for a malformed list or one of
// more than kMaxOwnLimits, which the check script refuses too.
bool parse_own_limits(std::string_view text, OwnLimits& out) noexcept;

}  // namespace apikey
