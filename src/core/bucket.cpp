#include "bucket.hpp"

#include <algorithm>

namespace apikey {

BucketDecision take_token(std::int64_t tat, std::int64_t now, BucketParams p) noexcept {
    BucketDecision d;
    std::int64_t base = std::max(tat, now);
    std::int64_t next = base + p.interval_us;
    std::int64_t allow_at = next - p.burst * p.interval_us;

    if (allow_at > now) {
        d.allowed = false;
        d.tat = tat;
        d.remaining = 0;
        d.reset_us = base - now;
        d.retry_us = allow_at - now;
        return d;
    }

    d.allowed = true;
    d.tat = next;
    d.remaining = (now - allow_at) / p.interval_us;
    d.reset_us = next - now;
    d.retry_us = 0;
    return d;
}

std::int64_t ceil_seconds(std::int64_t us) noexcept {
    return us <= 0 ? 0 : (us + 999999) / 1000000;
}

std::int64_t retry_after_seconds(std::int64_t retry_us) noexcept {
    return std::max<std::int64_t>(1, ceil_seconds(retry_us));
}

}  // namespace apikey
