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
    std::string policy;
};

RateHeaders rate_headers(const BucketState* buckets, std::size_t count);

}  // namespace apikey
