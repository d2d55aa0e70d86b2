// Calendar quotas and credits as written by people ("1000000/month",
// "500/day"), and the UTC calendar periods they count in.
//
// A quota counts the requests of a UTC day, week (Monday to Sunday) or month
// and starts again at the period's first second. Credits are a key's
// remaining uses; a refill sets them back to N at each UTC day or month start.
// The check script (check_script.cpp) computes the same periods in Lua; a unit
// test holds the two to the same boundaries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apikey {

// Below 2^53, so that counts stay exact integers in the script's Lua numbers.
inline constexpr std::int64_t kMaxQuota = 1000000000000;     // 10^12 requests a period
inline constexpr std::int64_t kMaxCredits = 1000000000000;   // 10^12 credits
inline constexpr std::size_t  kMaxOwnQuotas = 3;             // one per period
inline constexpr std::int64_t kMaxPeriodSeconds = 31 * 86400;  // the longest period

enum class QuotaPeriod : unsigned { kDay, kWeek, kMonth };

// "day", "week", "month".
std::string_view quota_period_word(QuotaPeriod p) noexcept;
std::optional<QuotaPeriod> parse_quota_period(std::string_view word) noexcept;

struct Quota {
    std::int64_t count = 0;             // N of "N/period"
    QuotaPeriod  period = QuotaPeriod::kDay;

    std::string to_string() const;      // "1000000/month"
    bool operator==(const Quota& o) const noexcept {
        return count == o.count && period == o.period;
    }
};

// Parses "N/day", "N/week" or "N/month" (1 <= N <= kMaxQuota). On failure
// returns nullopt and sets `error`.
std::optional<Quota> parse_quota(std::string_view text, std::string& error);

// Parses the stored `quota` field: space-separated items, at most one per
// period. An empty text is an empty list.
std::optional<std::vector<Quota>> parse_quota_list(std::string_view text, std::string& error);

std::string format_quota_list(const std::vector<Quota>& quotas);

// The refill of credits: "N/day" or "N/month" (0 <= N <= kMaxCredits).
using Refill = Quota;
std::optional<Refill> parse_refill(std::string_view text, std::string& error);

// The UTC period that holds a Unix time: its first second, the first second of
// the next one, and its first day as the number YYYYMMDD.
struct PeriodSpan {
    std::int64_t  start = 0;
    std::int64_t  end = 0;
    std::uint32_t first_day = 0;
};
PeriodSpan period_span(QuotaPeriod p, std::int64_t unix_time) noexcept;

// Quota counters (keyspace.hpp names the hashes): field "<set>/<period>",
// value "<first day YYYYMMDD>:<count>". A value of another period counts as 0.
std::string quota_field(std::string_view set, QuotaPeriod p);

// The count a stored value holds for the period starting on `first_day`.
std::int64_t quota_used(std::string_view stored, std::uint32_t first_day) noexcept;

// A quota counter hash outlives every period it holds (a month is at most 31
// days): the script sets this TTL on every write.
inline constexpr std::int64_t kQuotaKeepSeconds = 32 * 86400;

}  // namespace apikey
