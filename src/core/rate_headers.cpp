#include "rate_headers.hpp"

#include "bucket.hpp"

namespace apikey {

RateHeaders rate_headers(const BucketState* buckets, std::size_t count) {
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

    for (std::size_t i = 0; i < count; i++) {
        if (i > 0) h.policy += ", ";
        h.policy += std::to_string(buckets[i].burst);
        h.policy += ";w=";
        h.policy += std::to_string(ceil_seconds(buckets[i].burst * buckets[i].interval_us));
    }
    return h;
}

}  // namespace apikey
