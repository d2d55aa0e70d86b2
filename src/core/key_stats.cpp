#include "key_stats.hpp"

#include <charconv>
#include <string>

#include "keyspace.hpp"
#include "quota.hpp"

namespace apikey {

namespace {

constexpr std::int64_t kDay = 86400;

// Unix seconds of a record field; 0 when absent or not a number (the check
// refuses a record with an unreadable time with 503; here it only means that
// time is not known).
std::int64_t
seconds(std::string_view field) noexcept
{
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec != std::errc() || end != field.data() + field.size() || value < 0) {
        return 0;
    }
    return value;
}

}  // namespace


std::string_view
KeyStats::status_name(unsigned status) noexcept
{
    switch (status) {
    case kActive:   return "active";
    case kExpired:  return "expired";
    case kDisabled: return "disabled";
    case kRevoked:  return "revoked";
    default:        return "unknown";
    }
}


bool
KeyStats::near_limit(const KeyFacts &key, std::int64_t now, const QuotaCounts &counts) noexcept
{
    try {
        std::string error;
        std::string_view text = !key.quota.empty() ? key.quota : key.plan_quota;
        auto quotas = parse_quota_list(text, error);
        if (quotas) {
            for (const Quota &q : *quotas) {
                std::string field = quota_field(kDefaultBucket, q.period);
                std::uint32_t first_day = period_span(q.period, now).first_day;
                for (const auto &[name, value] : counts) {
                    if (name == field
                        && quota_used(value, first_day) * 100 >= q.count * kNearPercent) {
                        return true;
                    }
                }
            }
        }

        std::int64_t granted = seconds(key.credits_granted);
        if (key.credits.empty() || granted <= 0) {
            return false;
        }
        if (!key.refill.empty()) {
            auto refill = parse_refill(key.refill, error);
            if (refill && period_span(refill->period, now).start > seconds(key.refilled)) {
                return false;   // the next request refills them
            }
        }
        std::int64_t left = seconds(key.credits);
        return (granted - left) * 100 >= granted * kNearPercent;
    } catch (...) {
        return false;   // out of memory: this key is not counted as near
    }
}


void
KeyStats::add(const KeyFacts &key, std::int64_t now, const QuotaCounts &counts) noexcept
{
    std::int64_t expires = seconds(key.expires);
    unsigned status;

    if (key.status == "active") {
        status = expires != 0 && expires <= now ? kExpired : kActive;
    } else if (key.status == "disabled") {
        status = kDisabled;
    } else if (key.status == "revoked") {
        status = kRevoked;
    } else {
        status = kUnknown;
    }

    by_status_[status]++;

    if (status != kActive) {
        return;   // the other gauges are about keys that work today
    }

    for (std::size_t i = 0; i < kExpiringDays.size(); i++) {
        if (expires != 0 && expires <= now + kExpiringDays[i] * kDay) {
            expiring_[i]++;
        }
    }

    if (near_limit(key, now, counts)) {
        near_limit_++;
    }

    std::int64_t last_used = seconds(key.last_used);
    std::int64_t since = last_used != 0 ? last_used : seconds(key.created);
    if (since == 0) {
        return;
    }
    for (std::size_t i = 0; i < kUnusedDays.size(); i++) {
        if (since < now - kUnusedDays[i] * kDay) {
            unused_[i]++;
        }
    }
}

}  // namespace apikey
