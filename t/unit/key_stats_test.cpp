#include "key_stats.hpp"

#include <gtest/gtest.h>

#include <string>

using apikey::KeyFacts;
using apikey::KeyStats;

namespace {

constexpr std::int64_t kNow = 1800000000;
constexpr std::int64_t kDay = 86400;

std::string at(std::int64_t t) { return std::to_string(t); }

}  // namespace

TEST(KeyStats, CountsEachStatusAndDerivesExpired)
{
    KeyStats s;
    std::string past = at(kNow - 1), future = at(kNow + 100 * kDay), now = at(kNow);
    s.add({"active", "", "", ""}, kNow);
    s.add({"active", "0", "", ""}, kNow);
    s.add({"active", future, "", ""}, kNow);
    s.add({"active", past, "", ""}, kNow);
    s.add({"active", now, "", ""}, kNow);   // expires at now: refused now, as the check does
    s.add({"disabled", past, "", ""}, kNow);
    s.add({"revoked", "", "", ""}, kNow);
    s.add({"revoked", "", "", ""}, kNow);
    s.add({"paused", "", "", ""}, kNow);
    s.add({"", "", "", ""}, kNow);

    EXPECT_EQ(s.keys(KeyStats::kActive), 3u);
    EXPECT_EQ(s.keys(KeyStats::kExpired), 2u);
    EXPECT_EQ(s.keys(KeyStats::kDisabled), 1u);
    EXPECT_EQ(s.keys(KeyStats::kRevoked), 2u);
    EXPECT_EQ(s.keys(KeyStats::kUnknown), 2u);
}

TEST(KeyStats, ExpiringWithinIsCumulativeAndOnlyActive)
{
    KeyStats s;
    struct { std::int64_t expires; const char *status; } keys[] = {
        {kNow + 1, "active"},              // both
        {kNow + 7 * kDay, "active"},       // both: the bound is included
        {kNow + 7 * kDay + 1, "active"},   // 30 only
        {kNow + 30 * kDay, "active"},      // 30 only
        {kNow + 30 * kDay + 1, "active"},  // neither
        {kNow + 1, "disabled"},            // not active: neither
        {kNow + 1, "revoked"},
    };
    for (auto &k : keys) {
        std::string e = at(k.expires);
        s.add({k.status, e, "", ""}, kNow);
    }
    s.add({"active", "", "", ""}, kNow);   // never expires

    EXPECT_EQ(s.expiring(0), 2u);   // 7 days
    EXPECT_EQ(s.expiring(1), 4u);   // 30 days
}

TEST(KeyStats, UnusedByLastUseElseCreation)
{
    KeyStats s;
    std::string used_100d = at(kNow - 100 * kDay), used_31d = at(kNow - 31 * kDay),
                used_30d = at(kNow - 30 * kDay), used_1d = at(kNow - kDay),
                created_95d = at(kNow - 95 * kDay), created_2d = at(kNow - 2 * kDay);

    s.add({"active", "", used_100d, ""}, kNow);       // 30 and 90
    s.add({"active", "", used_31d, ""}, kNow);        // 30
    s.add({"active", "", used_30d, ""}, kNow);        // exactly 30 days: not more
    s.add({"active", "", used_1d, created_95d}, kNow);   // used lately: neither
    s.add({"active", "", "", created_95d}, kNow);     // never used, old: 30 and 90
    s.add({"active", "", "0", created_2d}, kNow);     // never used, new: neither
    s.add({"active", "", "", ""}, kNow);              // nothing known: neither
    s.add({"revoked", "", used_100d, ""}, kNow);      // not active: neither
    std::string expired = at(kNow - 1);
    s.add({"active", expired, used_100d, ""}, kNow);   // expired: neither

    EXPECT_EQ(s.unused(0), 3u);   // 30 days
    EXPECT_EQ(s.unused(1), 2u);   // 90 days
}

TEST(KeyStats, UnreadableTimesAreAbsent)
{
    KeyStats s;
    s.add({"active", "soon", "yesterday", "-5"}, kNow);
    s.add({"active", "12x", "", ""}, kNow);
    EXPECT_EQ(s.keys(KeyStats::kActive), 2u);
    EXPECT_EQ(s.expiring(1), 0u);
    EXPECT_EQ(s.unused(1), 0u);
}

TEST(KeyStats, StatusNames)
{
    EXPECT_EQ(KeyStats::status_name(KeyStats::kActive), "active");
    EXPECT_EQ(KeyStats::status_name(KeyStats::kExpired), "expired");
    EXPECT_EQ(KeyStats::status_name(KeyStats::kDisabled), "disabled");
    EXPECT_EQ(KeyStats::status_name(KeyStats::kRevoked), "revoked");
    EXPECT_EQ(KeyStats::status_name(KeyStats::kUnknown), "unknown");
}
