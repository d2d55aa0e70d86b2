// The RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) and
// Retry-After, from the buckets the check script reported.
//
// A token bucket of capacity B refilled one token per interval I is the quota
// policy "B requests per window of B*I": so RateLimit-Limit is B,
// RateLimit-Remaining the whole tokens left, RateLimit-Reset the seconds until
// the bucket is full again, and RateLimit-Policy lists every bucket as
// "B;w=ceil(B*I)". With several buckets the one with the fewest tokens left is
// reported (the draft's rule: the policy closest to exhaustion).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "check_reply.hpp"

namespace apikey {

struct RateHeaders {
    bool present = false;
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset = 0;
    std::int64_t retry_after = 0;  // > 0 only when the request was refused
};

RateHeaders rate_headers(const BucketState* buckets, std::size_t count) noexcept;

// RateLimit-Policy ("10;w=6, 10000;w=86400") into buf, without allocating: it
// is on every response of a limited location. Returns the length written, or
// 0 if it does not fit. kMaxPolicyLength always fits kMaxBuckets buckets.
inline constexpr std::size_t kMaxPolicyLength = kMaxBuckets * 48;
std::size_t format_policy(const BucketState* buckets, std::size_t count, char* buf,
                          std::size_t cap) noexcept;

}  // namespace apikey
