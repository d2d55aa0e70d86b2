// Token-bucket arithmetic, in the GCRA form (one number of state per bucket).
//
// A bucket of capacity B refilled at one token per interval I holds, at time t,
//
//     tokens(t) = min(B, B - (tat - t) / I)          (a real number)
//
// where `tat`, the theoretical arrival time, is the only state kept. A request
// at `now` takes one token when tokens(now) >= 1, which is the same as
//
//     max(tat, now) + I - B*I <= now
//
// and then tat' = max(tat, now) + I. A denied request changes nothing. The bucket
// is full again (and its state can be forgotten) once now >= tat.
//
// All quantities are integer microseconds. The check script in Redis runs the
// same steps on the same integers (see check_script.cpp); unit tests pin this
// function and an integration test pins the two against each other.
#pragma once

#include <cstdint>

namespace apikey {

struct BucketParams {
    std::int64_t interval_us = 0;  // I
    std::int64_t burst = 0;        // B
};

struct BucketDecision {
    bool allowed = false;
    std::int64_t tat = 0;        // state after this request
    std::int64_t remaining = 0;  // whole tokens left after this request
    std::int64_t reset_us = 0;   // until the bucket is full again
    std::int64_t retry_us = 0;   // until one token is available (0 when allowed)
};

BucketDecision take_token(std::int64_t tat, std::int64_t now_us, BucketParams params) noexcept;

// Whole seconds for Retry-After: rounded up and never 0 (RFC 9110 allows 0, but
// a client told "retry in 0 s" retries at once and is refused again).
std::int64_t retry_after_seconds(std::int64_t retry_us) noexcept;

// Whole seconds, rounded up, for RateLimit-Reset and RateLimit-Policy windows.
std::int64_t ceil_seconds(std::int64_t us) noexcept;

}  // namespace apikey
