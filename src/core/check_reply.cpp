#include "check_reply.hpp"

#include <hiredis/hiredis.h>

#include "meta.hpp"
#include "quota.hpp"
#include "rate.hpp"
#include "scope.hpp"

namespace apikey {

namespace {

constexpr std::size_t kHead = 21;       // v5: the record, then quota, credits,
                                        // credits_reset_s, nquota
constexpr std::size_t kPerQuota = 5;
constexpr std::size_t kMaxField = 128;     // owner, role, plan (key_model.hpp)
constexpr std::size_t kMaxAllowIpText = 2048;
constexpr std::size_t kPerBucket = 5;
constexpr std::size_t kMaxName = 1024;
constexpr std::size_t kMaxScopes = 8192;

bool as_string(const redisReply* r, std::string_view& out) {
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
        return false;
    }
    out = std::string_view(r->str, r->len);
    return true;
}

bool as_integer(const redisReply* r, std::int64_t& out) {
    if (r->type != REDIS_REPLY_INTEGER) {
        return false;
    }
    out = r->integer;
    return true;
}

bool printable(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7F) return false;
    }
    return true;
}

bool parse_verdict(std::string_view word, Verdict& v) {
    if (word == "ok") v = Verdict::kOk;
    else if (word == "limited") v = Verdict::kLimited;
    else if (word == "forbidden") v = Verdict::kForbidden;
    else if (word == "invalid") v = Verdict::kInvalid;
    else if (word == "revoked") v = Verdict::kRevoked;
    else if (word == "expired") v = Verdict::kExpired;
    else if (word == "late") v = Verdict::kLate;
    else if (word == "disabled") v = Verdict::kDisabled;
    else if (word == "wrong_env") v = Verdict::kWrongEnv;
    else if (word == "ip_denied") v = Verdict::kIpDenied;
    else if (word == "quota_exceeded") v = Verdict::kQuotaExceeded;
    else if (word == "credits_exhausted") v = Verdict::kCreditsExhausted;
    else return false;
    return true;
}

// credits, credits_reset_s, nquota and the quota states from element `first`
// on, then the bucket states; and the verdict must agree with them all.
bool decode_buckets(const redisReply* reply, std::size_t first, CheckReply& out,
                    std::string& error) {
    std::int64_t nquota = 0;
    if (reply->elements < first + 3 || !as_integer(reply->element[first], out.credits) ||
        !as_integer(reply->element[first + 1], out.credits_reset_s) ||
        !as_integer(reply->element[first + 2], nquota) || out.credits < -1 ||
        out.credits > kMaxCredits || out.credits_reset_s < 0 ||
        out.credits_reset_s > kMaxPeriodSeconds || nquota < 0 ||
        static_cast<std::uint64_t>(nquota) > kMaxQuotas ||
        reply->elements - first - 3 < static_cast<std::size_t>(nquota) * kPerQuota) {
        error = "malformed quota state";
        return false;
    }
    first += 3;
    out.quota_count = static_cast<std::size_t>(nquota);
    bool any_exceeded = false;
    for (std::size_t i = 0; i < out.quota_count; i++) {
        QuotaState& q = out.quotas[i];
        redisReply** e = reply->element + first + i * kPerQuota;
        std::int64_t exceeded = 0;
        if (!as_string(e[0], q.name) || !as_integer(e[1], q.limit) ||
            !as_integer(e[2], q.remaining) || !as_integer(e[3], q.reset_s) ||
            !as_integer(e[4], exceeded) || q.name.empty() || q.name.size() > kMaxName ||
            !printable(q.name) || q.limit < 1 || q.limit > kMaxQuota || q.remaining < 0 ||
            q.remaining > q.limit || q.reset_s < 1 || q.reset_s > kMaxPeriodSeconds ||
            (exceeded != 0 && exceeded != 1)) {
            error = "malformed quota state";
            return false;
        }
        q.exceeded = exceeded == 1;
        any_exceeded = any_exceeded || q.exceeded;
    }
    first += out.quota_count * kPerQuota;

    if ((reply->elements - first) % kPerBucket != 0 ||
        (reply->elements - first) / kPerBucket > kMaxBuckets) {
        error = "unexpected reply length";
        return false;
    }

    out.bucket_count = (reply->elements - first) / kPerBucket;
    bool any_refused = false;
    for (std::size_t i = 0; i < out.bucket_count; i++) {
        BucketState& b = out.buckets[i];
        redisReply** e = reply->element + first + i * kPerBucket;
        if (!as_integer(e[0], b.burst) || !as_integer(e[1], b.interval_us) ||
            !as_integer(e[2], b.remaining) || !as_integer(e[3], b.reset_us) ||
            !as_integer(e[4], b.retry_us) ||
            // the bounds the module and the CLI accept (rate.hpp): beyond them
            // the header arithmetic could overflow (found by fuzzing)
            b.burst < 1 || b.burst > kMaxBurst || b.interval_us < 1 ||
            b.interval_us > kMaxIntervalUs || b.remaining < 0 || b.remaining > b.burst ||
            b.reset_us < 0 || b.reset_us > kMaxWindowUs || b.retry_us < 0 ||
            b.retry_us > kMaxWindowUs) {
            error = "malformed bucket state";
            return false;
        }
        any_refused = any_refused || b.retry_us > 0;
    }

    bool consistent = true;
    switch (out.verdict) {
    case Verdict::kOk: consistent = !any_refused && !any_exceeded; break;
    case Verdict::kLimited: consistent = any_refused && !any_exceeded; break;
    case Verdict::kQuotaExceeded: consistent = any_exceeded; break;
    case Verdict::kCreditsExhausted: consistent = out.credits >= 0; break;
    default: consistent = !any_refused && !any_exceeded; break;
    }
    if (!consistent) {
        error = "inconsistent rate-limit verdict";
        return false;
    }
    return true;
}

}  // namespace

bool decode_check_reply(const redisReply* reply, CheckReply& out, std::string& error,
                        bool limit_only) {
    out = CheckReply{};

    if (reply == nullptr) {
        error = "no reply (connection lost)";
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        error.assign(reply->str, reply->len);
        if (error.empty()) {
            error = "an empty error reply";   // found by fuzzing: "-\r\n" is valid RESP
        }
        return false;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        error = "unexpected reply type";
        return false;
    }

    std::string_view word;
    if (!as_string(reply->element[0], word) || !parse_verdict(word, out.verdict)) {
        error = "unexpected verdict";
        return false;
    }

    // Redis's clock: milliseconds since the epoch, within what 53-bit Lua
    // numbers and any plausible date allow
    if (reply->elements < 2 || !as_integer(reply->element[1], out.now_ms) || out.now_ms <= 0 ||
        out.now_ms > (std::int64_t{1} << 50)) {
        error = "unexpected reply time";
        return false;
    }

    if (out.verdict == Verdict::kLate || out.verdict == Verdict::kInvalid) {
        if (reply->elements != 2 || (limit_only && out.verdict == Verdict::kInvalid)) {
            error = limit_only ? "unexpected verdict" : "unexpected reply length";
            return false;
        }
        return true;
    }

    if (limit_only) {
        if (out.verdict != Verdict::kOk && out.verdict != Verdict::kLimited &&
            out.verdict != Verdict::kQuotaExceeded &&
            out.verdict != Verdict::kCreditsExhausted) {
            error = "unexpected verdict";
            return false;
        }
        return decode_buckets(reply, 2, out, error);
    }

    if (reply->elements < kHead) {
        error = "unexpected reply length";
        return false;
    }

    if (!as_string(reply->element[2], out.name) || !as_string(reply->element[3], out.scopes) ||
        !as_integer(reply->element[4], out.expires) ||
        !as_string(reply->element[5], out.missing_scope) ||
        !as_integer(reply->element[6], out.created) ||
        !as_integer(reply->element[7], out.last_used) ||
        !as_string(reply->element[8], out.hint) ||
        !as_integer(reply->element[9], out.token_until) ||
        !as_string(reply->element[10], out.limits) ||
        !as_string(reply->element[11], out.owner) || !as_string(reply->element[12], out.role) ||
        !as_string(reply->element[13], out.plan) || !as_string(reply->element[14], out.env) ||
        !as_string(reply->element[15], out.meta) ||
        !as_string(reply->element[16], out.allow_ip) ||
        !as_string(reply->element[17], out.quota)) {
        error = "unexpected record fields";
        return false;
    }

    // The record may have been written by another program: hold it to the same
    // rules the CLI does before any of it reaches a header, log line or variable.
    if (out.name.size() > kMaxName || !printable(out.name) || out.hint.size() > 8 ||
        !printable(out.hint) || out.created < 0 || out.last_used < 0 || out.token_until < 0 ||
        out.limits.size() > 512 || !printable(out.limits) || out.scopes.size() > kMaxScopes ||
        !valid_scope_list(out.scopes) || out.expires < 0 ||
        (out.verdict == Verdict::kForbidden && !valid_scope(out.missing_scope) &&
         out.missing_scope != kUnlistedMethodScope) ||
        out.owner.size() > kMaxField || !printable(out.owner) || out.role.size() > kMaxField ||
        !printable(out.role) || out.plan.size() > kMaxField || !printable(out.plan) ||
        (out.env != "" && out.env != "live" && out.env != "test") ||
        out.allow_ip.size() > kMaxAllowIpText || !printable(out.allow_ip) ||
        !valid_meta_json(out.meta) || out.quota.size() > 128 || !printable(out.quota)) {
        error = "malformed record";
        return false;
    }

    return decode_buckets(reply, kHead - 3, out, error);
}

}  // namespace apikey
