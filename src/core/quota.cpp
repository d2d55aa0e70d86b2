#include "quota.hpp"

#include <charconv>

#include "usage.hpp"

namespace apikey {

namespace {

constexpr std::int64_t kDay = 86400;

std::int64_t
floor_div(std::int64_t a, std::int64_t b) noexcept
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

std::optional<Quota>
parse_count_per_period(std::string_view text, std::int64_t min, std::int64_t max,
                       const char *what, std::string& error)
{
    auto slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0) {
        error = std::string(what) + " \"" + std::string(text) + "\": expected N/day, N/week or N/month";
        return std::nullopt;
    }
    std::string_view digits = text.substr(0, slash);
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits[0] == '+'
        || n < min || n > max)
    {
        error = std::string(what) + " \"" + std::string(text) + "\": N must be a whole number from "
                + std::to_string(min) + " to " + std::to_string(max);
        return std::nullopt;
    }
    auto period = parse_quota_period(text.substr(slash + 1));
    if (!period) {
        error = std::string(what) + " \"" + std::string(text) + "\": the period is day, week or month";
        return std::nullopt;
    }
    return Quota{n, *period};
}

}  // namespace

std::string_view
quota_period_word(QuotaPeriod p) noexcept
{
    switch (p) {
    case QuotaPeriod::kDay:   return "day";
    case QuotaPeriod::kWeek:  return "week";
    case QuotaPeriod::kMonth: return "month";
    }
    return "day";
}

std::optional<QuotaPeriod>
parse_quota_period(std::string_view word) noexcept
{
    if (word == "day") return QuotaPeriod::kDay;
    if (word == "week") return QuotaPeriod::kWeek;
    if (word == "month") return QuotaPeriod::kMonth;
    return std::nullopt;
}

std::string
Quota::to_string() const
{
    return std::to_string(count) + "/" + std::string(quota_period_word(period));
}

std::optional<Quota>
parse_quota(std::string_view text, std::string& error)
{
    return parse_count_per_period(text, 1, kMaxQuota, "quota", error);
}

std::optional<std::vector<Quota>>
parse_quota_list(std::string_view text, std::string& error)
{
    std::vector<Quota> out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        std::size_t j = text.find(' ', i);
        if (j == std::string_view::npos) j = text.size();
        auto q = parse_quota(text.substr(i, j - i), error);
        if (!q) return std::nullopt;
        for (const auto& seen : out) {
            if (seen.period == q->period) {
                error = "quota: at most one quota per period (two per "
                        + std::string(quota_period_word(q->period)) + ")";
                return std::nullopt;
            }
        }
        if (out.size() >= kMaxOwnQuotas) {
            error = "quota: at most 3 quotas";
            return std::nullopt;
        }
        out.push_back(*q);
        i = j;
    }
    return out;
}

std::string
format_quota_list(const std::vector<Quota>& quotas)
{
    std::string out;
    for (const auto& q : quotas) {
        if (!out.empty()) out += ' ';
        out += q.to_string();
    }
    return out;
}

std::optional<Refill>
parse_refill(std::string_view text, std::string& error)
{
    auto r = parse_count_per_period(text, 0, kMaxCredits, "refill", error);
    if (r && r->period == QuotaPeriod::kWeek) {
        error = "refill \"" + std::string(text) + "\": the period is day or month";
        return std::nullopt;
    }
    return r;
}

PeriodSpan
period_span(QuotaPeriod p, std::int64_t unix_time) noexcept
{
    PeriodSpan s;
    std::int64_t days = floor_div(unix_time, kDay);
    switch (p) {
    case QuotaPeriod::kDay:
        s.start = days * kDay;
        s.end = s.start + kDay;
        break;
    case QuotaPeriod::kWeek: {
        // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday
        std::int64_t monday = days - (days + 3 - floor_div(days + 3, 7) * 7);
        s.start = monday * kDay;
        s.end = s.start + 7 * kDay;
        break;
    }
    case QuotaPeriod::kMonth: {
        std::uint32_t today = usage_day(unix_time);
        std::uint32_t y = today / 10000, m = today / 100 % 100;
        s.start = usage_day_start(y * 10000 + m * 100 + 1);
        std::uint32_t ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
        s.end = usage_day_start(ny * 10000 + nm * 100 + 1);
        break;
    }
    }
    s.first_day = usage_day(s.start);
    return s;
}

std::string
quota_field(std::string_view set, QuotaPeriod p)
{
    std::string f(set);
    f += '/';
    f += quota_period_word(p);
    return f;
}

std::int64_t
quota_used(std::string_view stored, std::uint32_t first_day) noexcept
{
    auto colon = stored.find(':');
    if (colon == std::string_view::npos) return 0;
    std::uint32_t day = 0;
    std::int64_t count = 0;
    auto d = std::from_chars(stored.data(), stored.data() + colon, day);
    auto c = std::from_chars(stored.data() + colon + 1, stored.data() + stored.size(), count);
    if (d.ec != std::errc() || d.ptr != stored.data() + colon || day != first_day
        || c.ec != std::errc() || c.ptr != stored.data() + stored.size() || count < 0)
    {
        return 0;
    }
    return count;
}

}  // namespace apikey
