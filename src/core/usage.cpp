// Per-key usage counting: see usage.hpp.
#include "usage.hpp"

namespace apikey {

std::string_view
usage_word(UsageResult r) noexcept
{
    switch (r) {
    case UsageResult::kOk: return "ok";
    case UsageResult::kForbidden: return "forbidden";
    case UsageResult::kLimited: return "limited";
    case UsageResult::kInvalid: return "invalid";
    }
    return "";
}


std::optional<UsageResult>
usage_result_of(Outcome o) noexcept
{
    switch (o) {
    case Outcome::kOk:
        return UsageResult::kOk;
    case Outcome::kForbidden:
    case Outcome::kIpNotAllowed:
    case Outcome::kWrongEnvironment:
        return UsageResult::kForbidden;
    case Outcome::kLimited:
        return UsageResult::kLimited;
    case Outcome::kRevoked:
    case Outcome::kExpired:
    case Outcome::kDisabled:
        return UsageResult::kInvalid;
    case Outcome::kMissing:
    case Outcome::kMalformed:
    case Outcome::kAmbiguous:
    case Outcome::kInvalid:
    case Outcome::kError:
    case Outcome::kInsecure:
        break;
    }
    return std::nullopt;
}


namespace {

// Howard Hinnant's days_from_civil / civil_from_days: no gmtime, no locale,
// no time zone, and every year of the proleptic Gregorian calendar.
std::int64_t
days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace


std::uint32_t
usage_day(std::int64_t unix_time) noexcept
{
    std::int64_t z = (unix_time >= 0 ? unix_time : unix_time - 86399) / 86400 + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) {
        return 0;
    }
    return static_cast<std::uint32_t>(y * 10000 + m * 100 + d);
}


std::int64_t
usage_day_start(std::uint32_t day) noexcept
{
    unsigned y = day / 10000, m = day / 100 % 100, d = day % 100;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31) {
        return 0;
    }
    std::int64_t t = days_from_civil(y, m, d) * 86400;
    return usage_day(t) == day ? t : 0;   // 20260231 is no day
}


std::int64_t
usage_expire_at(std::uint32_t day) noexcept
{
    std::int64_t start = usage_day_start(day);
    return start ? start + (1 + kUsageKeepDays) * std::int64_t{86400} : 0;
}


std::string
usage_redis_key(std::string_view prefix, std::string_view id, std::uint32_t day)
{
    std::string key;
    key.reserve(prefix.size() + id.size() + 18);
    key.append(prefix).append("usage:{").append(id).append("}:").append(std::to_string(day));
    return key;
}


bool
UsageTable::add(std::string_view id, std::uint32_t day, UsageResult r)
{
    std::string k = std::to_string(day);
    k += ':';
    k.append(id);

    auto it = entries_.find(k);
    if (it == entries_.end()) {
        if (entries_.size() >= max_keys_) {
            return false;
        }
        UsageIncrement inc;
        inc.id.assign(id);
        inc.day = day;
        it = entries_.emplace(std::move(k), std::move(inc)).first;
    }

    it->second.counts[static_cast<unsigned>(r)]++;
    return true;
}


std::vector<UsageIncrement>
UsageTable::drain()
{
    std::vector<UsageIncrement> out;
    out.reserve(entries_.size());
    for (auto &e : entries_) {
        out.push_back(std::move(e.second));
    }
    entries_.clear();
    return out;
}

}  // namespace apikey
