// Per-key usage counting: see usage.hpp.
#include "usage.hpp"

#include "json.hpp"

#include <cstdio>

namespace apikey {

std::string_view
usage_word(UsageResult r) noexcept
{
    switch (r) {
    case UsageResult::kOk: return "ok";
    case UsageResult::kForbidden: return "forbidden";
    case UsageResult::kLimited: return "limited";
    case UsageResult::kInvalid: return "invalid";
    case UsageResult::kQuotaExceeded: return "quota_exceeded";
    case UsageResult::kCreditsExhausted: return "credits_exhausted";
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
    case Outcome::kQuotaExceeded:
        return UsageResult::kQuotaExceeded;
    case Outcome::kCreditsExhausted:
        return UsageResult::kCreditsExhausted;
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
    // "<day>:<id>" in a buffer kept between calls (std::to_string would
    // allocate on every request)
    char digits[10];
    int n = 0;
    for (std::uint32_t d = day; n == 0 || (d && n < 10); d /= 10) {
        digits[n++] = static_cast<char>('0' + d % 10);
    }
    scratch_.clear();
    while (n) {
        scratch_ += digits[--n];
    }
    scratch_ += ':';
    scratch_.append(id);

    auto it = entries_.find(scratch_);
    if (it == entries_.end()) {
        if (entries_.size() >= max_keys_) {
            return false;
        }
        UsageIncrement inc;
        inc.id.assign(id);
        inc.day = day;
        it = entries_.emplace(scratch_, std::move(inc)).first;
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


std::vector<std::uint32_t>
usage_days(std::int64_t now, int days)
{
    std::vector<std::uint32_t> out;
    for (int i = days - 1; i >= 0; i--) {
        out.push_back(usage_day(now - std::int64_t{86400} * i));
    }
    return out;
}


std::uint64_t
UsageDay::count(std::string_view result) const noexcept
{
    for (const auto &c : counts) {
        if (c.first == result) {
            return c.second;
        }
    }
    return 0;
}


std::uint64_t
UsageDay::total() const noexcept
{
    std::uint64_t n = 0;
    for (const auto &c : counts) {
        n += c.second;
    }
    return n;
}


void
UsageDay::add(std::string_view result, std::uint64_t n)
{
    for (auto &c : counts) {
        if (c.first == result) {
            c.second += n;
            return;
        }
    }
    counts.emplace_back(std::string(result), n);
}


void
add_usage_fields(UsageDay &day, const std::vector<std::string_view> &flat)
{
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
        std::string_view name = flat[i], value = flat[i + 1];
        bool word = !name.empty() && name.size() <= 32 && name != "total";
        for (char c : name) {
            word = word && ((c >= 'a' && c <= 'z') || c == '_');
        }
        std::uint64_t n = 0;
        bool number = !value.empty() && value.size() <= 19;
        for (char c : value) {
            number = number && c >= '0' && c <= '9';
            n = n * 10 + static_cast<unsigned>(c - '0');
        }
        if (word && number) {
            day.add(name, n);
        }
    }
}


std::vector<std::string>
usage_results(const std::vector<UsageDay> &days)
{
    std::vector<std::string> out;
    for (unsigned i = 0; i < kUsageResults; i++) {
        out.emplace_back(usage_word(static_cast<UsageResult>(i)));
    }
    for (const auto &d : days) {
        for (const auto &c : d.counts) {
            bool known = false;
            for (const auto &r : out) {
                known = known || r == c.first;
            }
            if (!known) {
                out.push_back(c.first);
            }
        }
    }
    return out;
}


std::string
usage_date(std::uint32_t day)
{
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%04u-%02u-%02u", day / 10000, day / 100 % 100, day % 100);
    return buf;
}


void
append_usage_json(std::string &out, const std::vector<UsageDay> &days)
{
    std::vector<std::string> results = usage_results(days);
    UsageDay sum;

    out += "\"days\":[";
    for (std::size_t i = 0; i < days.size(); i++) {
        out += i ? ",{" : "{";
        out += "\"date\":\"" + usage_date(days[i].day) + "\"";
        for (const auto &r : results) {
            std::uint64_t n = days[i].count(r);
            out += ",";
            append_json_string(out, r);
            out += ":" + std::to_string(n);
            sum.add(r, n);
        }
        out += ",\"total\":" + std::to_string(days[i].total()) + "}";
    }
    out += "],\"total\":{";
    for (std::size_t i = 0; i < results.size(); i++) {
        if (i) {
            out += ",";
        }
        append_json_string(out, results[i]);
        out += ":" + std::to_string(sum.count(results[i]));
    }
    out += std::string(results.empty() ? "" : ",") + "\"total\":" + std::to_string(sum.total())
           + "}";
}


std::string
parse_usage_query(std::string_view query, int &days)
{
    days = kUsageDefaultDays;
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (item.empty()) {
            continue;
        }
        if (item.substr(0, 5) != "days=") {
            return "unknown query parameter (only days=N)";
        }
        std::string_view v = item.substr(5);
        int n = 0;
        bool ok = !v.empty() && v.size() <= 2;
        for (char c : v) {
            ok = ok && c >= '0' && c <= '9';
            n = n * 10 + (c - '0');
        }
        if (!ok || n < 1 || n > kUsageKeepDays) {
            return "days must be a whole number from 1 to " + std::to_string(kUsageKeepDays);
        }
        days = n;
    }
    return "";
}

}  // namespace apikey
