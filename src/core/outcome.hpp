// What the module tells the client, in one table: result word (for
// $apikey_result and logs), error code (the JSON body's "error"), HTTP status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "check_reply.hpp"

namespace apikey {

enum class Outcome {
    kOk,
    kMissing,      // no key sent
    kMalformed,    // not a well-formed key (bad characters, length, checksum)
    kAmbiguous,    // several keys, or a credential header repeated
    kInvalid,      // well-formed, but no such key
    kRevoked,
    kExpired,
    kForbidden,    // valid key without a required scope
    kLimited,      // over a rate limit
    kError,        // Redis unreachable, too slow, or answering with an error
    kInsecure,     // a key sent over plain HTTP where apikey_require_tls is on
    // issue 14; appended, so that the metrics' indexes of the others stay
    kDisabled,         // the key is disabled (reversibly; a revoke is permanent)
    kWrongEnvironment, // a live key where apikey_env says test, or the reverse
    kIpNotAllowed,     // the client address is outside the key's allow_ip list
    // issue 15; appended
    kQuotaExceeded,    // over a calendar quota (apikey_quota, the key's or plan's quota)
    kCreditsExhausted, // the key's credits are fewer than the request's apikey_cost
};

// The one map from a check's verdict (the script's, or decide_cached's on a
// cache hit) to what the client is told. kLate: Redis ran the check after the
// module had given up, so the request gets what a timeout gets.
Outcome outcome_of(Verdict v) noexcept;

// $apikey_result: ok missing malformed invalid revoked expired forbidden limited
// error insecure disabled wrong_environment ip_not_allowed quota_exceeded
// credits_exhausted
std::string_view result_word(Outcome o) noexcept;

// The "error" member of the JSON body: missing_key, malformed_key, ...
std::string_view error_code(Outcome o) noexcept;

// 0 for kOk; 401, 403, 429 or 503 otherwise (kDisabled 401; kWrongEnvironment and
// kIpNotAllowed 403: the key is genuine, this use of it is not allowed).
int http_status(Outcome o) noexcept;

struct DenialDetails {
    std::string_view required_scope;   // kForbidden
    std::int64_t expired_at = 0;       // kExpired
    std::int64_t retry_after = 0;      // kLimited, kQuotaExceeded, kCreditsExhausted
                                       // (0 there: no refill to wait for), seconds
};

// The JSON body of a refusal: {"error":"...","message":"..."[, details]}
std::string denial_body(Outcome o, const DenialDetails& details);

// The same body, built once, for the refusals that carry no details (all but
// expired, forbidden, limited, quota_exceeded and credits_exhausted); empty for the others. Floods of bad keys
// are answered without building anything: the module calls it once at
// configuration time (it may throw there, never on a request).
std::string_view fixed_denial_body(Outcome o);

}  // namespace apikey
