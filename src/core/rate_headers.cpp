#include "rate_headers.hpp"

#include <cstdio>

#include "bucket.hpp"

namespace apikey {

RateHeaders rate_headers(const BucketState* buckets, std::size_t count) noexcept {
    RateHeaders h;
    if (count == 0) {
        return h;
    }
    h.present = true;

    const BucketState* shown = nullptr;
    std::int64_t longest_retry = 0;
    for (std::size_t i = 0; i < count; i++) {
        const BucketState& b = buckets[i];
        if (b.retry_us > longest_retry) {
            longest_retry = b.retry_us;
            shown = &b;  // refused: report the bucket that refuses longest
        }
    }
    if (shown == nullptr) {
        shown = &buckets[0];
        for (std::size_t i = 1; i < count; i++) {
            if (buckets[i].remaining < shown->remaining) {
                shown = &buckets[i];
            }
        }
    }

    h.limit = shown->burst;
    h.remaining = shown->remaining;
    h.reset = ceil_seconds(shown->reset_us);
    if (longest_retry > 0) {
        h.retry_after = retry_after_seconds(longest_retry);
    }

    return h;
}

std::size_t format_policy(const BucketState* buckets, std::size_t count, char* buf,
                          std::size_t cap) noexcept {
    std::size_t len = 0;
    for (std::size_t i = 0; i < count; i++) {
        int n = std::snprintf(buf + len, cap - len, "%s%lld;w=%lld", i ? ", " : "",
                              static_cast<long long>(buckets[i].burst),
                              static_cast<long long>(
                                  ceil_seconds(buckets[i].burst * buckets[i].interval_us)));
        if (n < 0 || static_cast<std::size_t>(n) >= cap - len) {
            return 0;
        }
        len += static_cast<std::size_t>(n);
    }
    return len;
}

}  // namespace apikey
