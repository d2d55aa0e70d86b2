// Decoding what the check script returned. Whatever Redis sends is input like any
// other: every element is type- and range-checked, and anything unexpected is an
// error (the request then fails closed), never a pass.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "check_script.hpp"

struct redisReply;

namespace apikey {

// kLate: the script ran after the deadline the module gave it (the module had
// given up on it) and changed nothing.
enum class Verdict { kOk, kLimited, kForbidden, kInvalid, kRevoked, kExpired, kLate };

struct BucketState {
    std::int64_t burst = 0;
    std::int64_t interval_us = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_us = 0;
    std::int64_t retry_us = 0;  // > 0: this bucket refused the request
};

struct CheckReply {
    Verdict verdict = Verdict::kInvalid;
    std::int64_t now_ms = 0;         // Redis's clock (TIME) when the script ran
    std::string_view name;           // point into the redisReply
    std::string_view scopes;
    std::string_view missing_scope;  // for kForbidden
    std::int64_t expires = 0;        // unix seconds, 0 = never
    std::int64_t created = 0;        // unix seconds
    std::int64_t last_used = 0;      // unix seconds, 0 = never
    std::string_view hint;           // last characters of the token presented
    std::int64_t token_until = 0;    // > 0: a previous token, valid until then (grace)
    std::string_view limits;         // the key's own limits ("600r/m:50 ..."), or empty
    std::array<BucketState, kMaxBuckets> buckets{};
    std::size_t bucket_count = 0;
};

// Returns false and describes the problem in `error` when the reply is not a
// well-formed check reply (including Redis error replies, whose text is copied).
// `limit_only`: the short reply of the script's "limit" mode (verdict, now_ms,
// buckets). A kLate reply has no more than its verdict and now_ms, in both modes.
bool decode_check_reply(const redisReply* reply, CheckReply& out, std::string& error,
                        bool limit_only = false);

}  // namespace apikey
