// The RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) and
// Retry-After, from the buckets the check script reported. Two generations:
// the draft-06 fields (`apikey_ratelimit_headers legacy`, first half of this
// file) and the current draft's (-10, -11: `draft`, second half).
//
// Legacy. A token bucket of capacity B refilled one token per interval I is the quota
// policy "B requests per window of B*I": so RateLimit-Limit is B,
// RateLimit-Remaining the whole tokens left, RateLimit-Reset the seconds until
// the bucket is full again, and RateLimit-Policy lists every bucket as
// "B;w=ceil(B*I)". With several buckets the one with the fewest tokens left is
// reported (the draft's rule: the policy closest to exhaustion).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check_reply.hpp"
#include "rate.hpp"

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

// --- The current draft (-10 section 3 and 4; -11 keeps the syntax) ---------
//
// Every bucket is one quota policy, named (README "Headers"):
//   RateLimit-Policy: "default";q=10;w=6, "export";q=2;w=60
//   RateLimit: "default";r=9;t=1
// both Lists of Structured Field Values (RFC 9651): an sf-string, the policy's
// name, with Integer parameters. q is the bucket's capacity B and w its window
// ceil(B*I) in seconds (as legacy: B requests per B*I). r is the whole tokens
// left; t the seconds until one more token is there, rounded up and never 0:
// -10 defines t as the time until more quota is available, -11 as the time
// within which no more than r can be used, and the next token is both. On a
// refusal r=0 and t is the bucket's Retry-After.
//
// pk (the partition key) is left out: every response describes the partition
// of the key it presented (the key's, or its owner's with per=owner), which a
// client knows already, and a pk would put a key id or owner name in a header
// (draft section 8.2) for no use.

// A policy's name: the bucket set's name ("default", or apikey_limit's
// bucket=NAME) when the set has only this one bucket in the request, else
// "<set>/<N>r/<u>:<B>" (the line's rate and burst, in the form of a key's own
// limits), so that every bucket of a request has a name of its own. A key's
// own limits (and its plan's) replace the default set's lines and are named
// the same way. Set names are letters, digits, "_" and "-" (at most 64), so the
// separators "/" and ":" cannot make two names alike.
inline constexpr std::size_t kMaxPolicyName = 96;
struct PolicyName {
    std::array<char, kMaxPolicyName> text{};
    std::size_t len = 0;
    std::string_view view() const noexcept { return {text.data(), len}; }
};
PolicyName policy_name(std::string_view set, const Limit& limit, bool alone) noexcept;

// A bucket set as configured: its lines, in order, and whether a key's own
// limits replace them (the default set).
struct PolicySet {
    std::string_view name;
    const Limit* lines = nullptr;
    std::size_t count = 0;
    bool overridable = false;
};

// Names the `count` buckets of a reply, which come set by set and line by line
// (check_script.cpp, local_limits.cpp), an overridable set's lines replaced by
// `own` when it is not empty. Returns false, naming nothing, when the numbers
// do not add up: no draft fields then rather than wrong ones.
bool name_policies(const PolicySet* sets, std::size_t nsets, const Limit* own, std::size_t nown,
                   std::size_t count, std::array<PolicyName, kMaxBuckets>& out) noexcept;
inline bool name_policies(const PolicySet* sets, std::size_t nsets, const std::vector<Limit>& own,
                          std::size_t count, std::array<PolicyName, kMaxBuckets>& out) noexcept {
    return name_policies(sets, nsets, own.data(), own.size(), count, out);
}

struct RatePolicy {
    std::string_view name;
    BucketState state;
    // a calendar quota (issue 15) rather than a bucket: w is the period's
    // length, q its limit (state.burst), r what is left (state.remaining), t
    // the seconds until the period ends (more quota comes only then)
    std::int64_t window_s = 0;
    std::int64_t reset_s = 0;
};

// t of a bucket: seconds until its next token, rounded up, never 0.
std::int64_t next_token_seconds(const BucketState& b) noexcept;

// t of a policy: a bucket's next token, or the end of a quota's period.
std::int64_t policy_seconds(const RatePolicy& p) noexcept;

// A quota as a policy named "<set>/<N>/<period>" ("default/1000000/month"),
// its name written into `name`; `now_s` (Redis's clock) gives the length of
// the month it counts in. False when the quota's name is not "<set>/<period>".
bool quota_policy(const QuotaState& q, std::int64_t now_s, PolicyName& name,
                  RatePolicy& out) noexcept;

// The policy closest to refusing, the one RateLimit reports: after a refusal
// the refusing bucket with the longest wait (so t equals Retry-After), else
// the fewest whole tokens left (the draft's example B.1.2: the limit "closest
// to reach"), then the longest t, then the first. count must be > 0.
std::size_t closest_policy(const RatePolicy* policies, std::size_t count) noexcept;

// An sf-string (RFC 9651 section 4.1.6): quoted, '"' and '\' escaped; a byte
// outside printable ASCII (no name has one) becomes '?'. Returns the length
// written, or 0 if it does not fit.
std::size_t format_sf_string(std::string_view s, char* buf, std::size_t cap) noexcept;

// RateLimit-Policy and RateLimit field values into buf, without allocating.
// Return the length written, or 0 if it does not fit (or count is 0).
// kMaxDraftLength always fits kMaxBuckets buckets and kMaxQuotas quotas with
// the longest names.
inline constexpr std::size_t kMaxPolicies = kMaxBuckets + kMaxQuotas;
inline constexpr std::size_t kMaxDraftLength = kMaxPolicies * (2 * kMaxPolicyName + 64);
std::size_t format_draft_policy(const RatePolicy* policies, std::size_t count, char* buf,
                                std::size_t cap) noexcept;
std::size_t format_draft_limit(const RatePolicy* policies, std::size_t count, char* buf,
                               std::size_t cap) noexcept;

}  // namespace apikey
