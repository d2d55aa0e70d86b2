// Key hygiene: how many keys there are by status, how many expire soon, how
// many have gone unused. One worker counts them at most once a minute by
// walking the key records with SCAN (src/ngx/key_stats.cpp); this is the
// arithmetic of that count, kept apart so that it is tested on its own.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace apikey {

// The fields of a record the count reads (HMGET status expires last_used
// created quota plan_quota credits credits_granted refill refilled), as Redis
// returns them; absent fields are empty.
struct KeyFacts {
    std::string_view status;
    std::string_view expires;
    std::string_view last_used;
    std::string_view created;
    std::string_view quota;            // issue 15: the key's own quotas
    std::string_view plan_quota;
    std::string_view credits;
    std::string_view credits_granted;
    std::string_view refill;
    std::string_view refilled;
};

// The key's quota counts (HGETALL <prefix>quota:{<id>}): field, value pairs.
using QuotaCounts = std::vector<std::pair<std::string_view, std::string_view>>;

class KeyStats {
public:
    // A key's status as counted: "expired" is derived from `expires`, as the
    // check does; a status the module does not know is "unknown" (the check
    // refuses such a key with 503).
    enum Status : unsigned { kActive, kExpired, kDisabled, kRevoked, kUnknown, kStatuses };
    static std::string_view status_name(unsigned status) noexcept;

    // Periods of the gauges, in days: expiring within, unused for.
    static constexpr std::array<unsigned, 2> kExpiringDays = {7, 30};
    static constexpr std::array<unsigned, 2> kUnusedDays = {30, 90};

    // Counts one key, at unix time `now`, with its quota counts.
    void add(const KeyFacts &key, std::int64_t now, const QuotaCounts &counts = {}) noexcept;

    // The share of a quota or of the credits used from which a key counts as
    // near its limit: 80%.
    static constexpr std::int64_t kNearPercent = 80;

    // Whether an active key has used 80% or more of one of its quotas (its
    // own, else its plan's, in the current UTC period) or of its credits
    // (against credits_granted; a key due a refill is not near).
    static bool near_limit(const KeyFacts &key, std::int64_t now,
                           const QuotaCounts &counts) noexcept;

    std::uint64_t keys(unsigned status) const noexcept { return by_status_[status]; }
    // active keys that expire in (now, now + days]
    std::uint64_t expiring(std::size_t i) const noexcept { return expiring_[i]; }
    // active keys last used more than `days` ago, or never used and created
    // more than `days` ago (a key with neither time is not counted)
    std::uint64_t unused(std::size_t i) const noexcept { return unused_[i]; }
    // active keys near_limit()
    std::uint64_t near_limit() const noexcept { return near_limit_; }

private:
    std::array<std::uint64_t, kStatuses> by_status_{};
    std::array<std::uint64_t, kExpiringDays.size()> expiring_{};
    std::array<std::uint64_t, kUnusedDays.size()> unused_{};
    std::uint64_t near_limit_ = 0;
};

}  // namespace apikey
