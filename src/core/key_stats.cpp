#include "key_stats.hpp"

#include <charconv>

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


void
KeyStats::add(const KeyFacts &key, std::int64_t now) noexcept
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
