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
// given up on it) and changed nothing. kDisabled: the record's status is
// "disabled"; kWrongEnv: the key's environment is not the one apikey_env
// accepts; kIpDenied: the client address is outside the key's allow_ip. None
// of these three takes a token or writes anything.
enum class Verdict {
    kOk, kLimited, kForbidden, kInvalid, kRevoked, kExpired, kLate,
    kDisabled, kWrongEnv, kIpDenied,
    kQuotaExceeded,     // a calendar quota is used up (issue 15)
    kCreditsExhausted,  // the key's credits are fewer than the request's cost
};

struct BucketState {
    std::int64_t burst = 0;
    std::int64_t interval_us = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_us = 0;
    std::int64_t retry_us = 0;  // > 0: this bucket refused the request
};

// One calendar quota as counted by this request.
struct QuotaState {
    std::string_view name;        // "<set>/<period>": "default/month"
    std::int64_t limit = 0;
    std::int64_t remaining = 0;   // after this request
    std::int64_t reset_s = 0;     // seconds until the period ends
    bool exceeded = false;
};

struct CheckReply {
    Verdict verdict = Verdict::kInvalid;
    std::int64_t now_ms = 0;         // Redis's clock (TIME) when the script ran
    std::string_view name;           // point into the redisReply
    std::string_view scopes;         // effective: the key's own and its role's
    std::string_view missing_scope;  // for kForbidden
    std::int64_t expires = 0;        // unix seconds, 0 = never
    std::int64_t created = 0;        // unix seconds
    std::int64_t last_used = 0;      // unix seconds, 0 = never
    std::string_view hint;           // last characters of the token presented
    std::int64_t token_until = 0;    // > 0: a previous token, valid until then (grace)
    std::string_view limits;         // effective: the key's own limits ("600r/m:50 ..."),
                                     // else its plan's, or empty (the default set)
    std::string_view owner;          // issue 14's fields, as stored ("" when absent)
    std::string_view role;
    std::string_view plan;
    std::string_view env;            // "live" or "test" ("" in the record means live)
    std::string_view meta;           // a JSON object of strings, or empty
    std::string_view allow_ip;       // canonical CIDRs (cidr.hpp), or empty
    std::string_view quota;          // effective: the key's own quotas, else its plan's
    std::int64_t credits = -1;       // left after this request; -1: the key has none
    std::int64_t credits_reset_s = 0;  // seconds until the next refill, 0: none
    std::array<QuotaState, kMaxQuotas> quotas{};
    std::size_t quota_count = 0;
    std::array<BucketState, kMaxBuckets> buckets{};
    std::size_t bucket_count = 0;
};

// Returns false and describes the problem in `error` when the reply is not a
// well-formed check reply (including Redis error replies, whose text is copied).
// `limit_only`: the short reply of the script's "limit" mode (verdict, now_ms,
// credits, credits_reset_s, quotas, buckets). A kLate reply has no more than its verdict and now_ms, in both modes.
bool decode_check_reply(const redisReply* reply, CheckReply& out, std::string& error,
                        bool limit_only = false);

}  // namespace apikey
