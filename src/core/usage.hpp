// Per-key usage: what a worker counts between two flushes to Redis, and the
// words, days and keys the module, the CLI and the admin API share.
//
// A request whose key is known is counted once, under the UTC day it was
// decided in and one result word; a worker adds into a bounded table and
// drains it (at most once a second) into per-key-day increments, so Redis
// sees a few HINCRBYs per key per second, never one per request.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "outcome.hpp"

namespace apikey {

// Appended only: quota_exceeded and credits_exhausted came with issue 15's
// quotas and credits (days counted before have no such fields).
enum class UsageResult : unsigned {
    kOk,
    kForbidden,   // forbidden, ip_not_allowed, wrong_environment
    kLimited,
    kInvalid,     // a known key that is revoked, expired or disabled
    kQuotaExceeded,
    kCreditsExhausted,
};

inline constexpr unsigned kUsageResults = 6;

// "ok", "forbidden", "limited", "invalid", "quota_exceeded",
// "credits_exhausted": the usage hash's fields.
std::string_view usage_word(UsageResult r) noexcept;

// The result a request's outcome counts as, or nothing for a request not
// counted (no key, an unknown key, a malformed one, a Redis error).
std::optional<UsageResult> usage_result_of(Outcome o) noexcept;

// The UTC day of a Unix time, as the number YYYYMMDD.
std::uint32_t usage_day(std::int64_t unix_time) noexcept;

// The Unix time of 00:00 UTC on day YYYYMMDD; 0 for no such day.
std::int64_t usage_day_start(std::uint32_t day) noexcept;

// How long a day's counts are kept after it ends.
inline constexpr int kUsageKeepDays = 90;

// EXPIREAT of a day's hash: 90 days after the day ends.
std::int64_t usage_expire_at(std::uint32_t day) noexcept;

// <prefix>usage:{<id>}:<YYYYMMDD>: the tag keeps it in the key's slot.
std::string usage_redis_key(std::string_view prefix, std::string_view id, std::uint32_t day);

// One key-day's counts to add to Redis.
struct UsageIncrement {
    std::string                                  id;
    std::uint32_t                                day = 0;
    std::array<std::uint64_t, kUsageResults>    counts{};
};

// The days a report covers: the `days` UTC days up to and including the
// day of `now`, oldest first.
std::vector<std::uint32_t> usage_days(std::int64_t now, int days);

inline constexpr int kUsageDefaultDays = 30;

// One day of a report: the counts found in its hash, by field (the known
// results, and whatever result a later version adds: the list is open).
struct UsageDay {
    std::uint32_t                                               day = 0;
    std::vector<std::pair<std::string, std::uint64_t>>         counts;

    std::uint64_t count(std::string_view result) const noexcept;
    std::uint64_t total() const noexcept;
    void add(std::string_view result, std::uint64_t n);
};

// Adds a hash's HGETALL (field, value, ...) into `day`; fields that are not
// a result word ([a-z_]) or values that are not counts are skipped.
void add_usage_fields(UsageDay &day, const std::vector<std::string_view> &flat);

// The results a report names: ok forbidden limited invalid, then any other
// found in `days`, in order of appearance.
std::vector<std::string> usage_results(const std::vector<UsageDay> &days);

// "2026-12-01"
std::string usage_date(std::uint32_t day);

// {"days":[{"date":"2026-12-01","ok":1,...,"total":N},...],
//  "total":{"ok":...,"total":N}}: the members after the caller's own
// ("id" or "owner"), written into an object already open in `out`.
void append_usage_json(std::string &out, const std::vector<UsageDay> &days);

// The admin API's query string: empty or days=N (1 to 90). Returns a
// problem for a 400, or "" with `days` set.
std::string parse_usage_query(std::string_view query, int &days);

class UsageTable {
public:
    // At most `max_keys` distinct (id, day) pairs between two drains: a flood
    // of distinct keys cannot grow a worker without bound.
    explicit UsageTable(std::size_t max_keys) : max_keys_(max_keys) {}

    // False, counting nothing, when the pair is new and the table is full.
    bool add(std::string_view id, std::uint32_t day, UsageResult r);

    bool empty() const noexcept { return entries_.empty(); }
    std::size_t size() const noexcept { return entries_.size(); }

    // Everything counted since the last drain; the table is empty after.
    std::vector<UsageIncrement> drain();

private:
    std::size_t                                          max_keys_;
    std::unordered_map<std::string, UsageIncrement>     entries_;   // by "<day>:<id>"
    std::string                                          scratch_;   // the lookup key: no
                                                                     // allocation per request
};

}  // namespace apikey
