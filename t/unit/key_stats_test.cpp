#include "key_stats.hpp"

#include <gtest/gtest.h>

#include <string>

using apikey::KeyFacts;
using apikey::KeyStats;

namespace {

constexpr std::int64_t kNow = 1800000000;
constexpr std::int64_t kDay = 86400;

std::string at(std::int64_t t) { return std::to_string(t); }

// the four fields of the counts before issue 15; the others absent
KeyFacts facts(std::string_view status, std::string_view expires, std::string_view last_used,
               std::string_view created) {
    KeyFacts k;
    k.status = status;
    k.expires = expires;
    k.last_used = last_used;
    k.created = created;
    return k;
}

}  // namespace

TEST(KeyStats, CountsEachStatusAndDerivesExpired)
{
    KeyStats s;
    std::string past = at(kNow - 1), future = at(kNow + 100 * kDay), now = at(kNow);
    s.add(facts("active", "", "", ""), kNow);
    s.add(facts("active", "0", "", ""), kNow);
    s.add(facts("active", future, "", ""), kNow);
    s.add(facts("active", past, "", ""), kNow);
    s.add(facts("active", now, "", ""), kNow);   // expires at now: refused now, as the check does
    s.add(facts("disabled", past, "", ""), kNow);
    s.add(facts("revoked", "", "", ""), kNow);
    s.add(facts("revoked", "", "", ""), kNow);
    s.add(facts("paused", "", "", ""), kNow);
    s.add(facts("", "", "", ""), kNow);

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
        s.add(facts(k.status, e, "", ""), kNow);
    }
    s.add(facts("active", "", "", ""), kNow);   // never expires

    EXPECT_EQ(s.expiring(0), 2u);   // 7 days
    EXPECT_EQ(s.expiring(1), 4u);   // 30 days
}

TEST(KeyStats, UnusedByLastUseElseCreation)
{
    KeyStats s;
    std::string used_100d = at(kNow - 100 * kDay), used_31d = at(kNow - 31 * kDay),
                used_30d = at(kNow - 30 * kDay), used_1d = at(kNow - kDay),
                created_95d = at(kNow - 95 * kDay), created_2d = at(kNow - 2 * kDay);

    s.add(facts("active", "", used_100d, ""), kNow);       // 30 and 90
    s.add(facts("active", "", used_31d, ""), kNow);        // 30
    s.add(facts("active", "", used_30d, ""), kNow);        // exactly 30 days: not more
    s.add(facts("active", "", used_1d, created_95d), kNow);   // used lately: neither
    s.add(facts("active", "", "", created_95d), kNow);     // never used, old: 30 and 90
    s.add(facts("active", "", "0", created_2d), kNow);     // never used, new: neither
    s.add(facts("active", "", "", ""), kNow);              // nothing known: neither
    s.add(facts("revoked", "", used_100d, ""), kNow);      // not active: neither
    std::string expired = at(kNow - 1);
    s.add(facts("active", expired, used_100d, ""), kNow);   // expired: neither

    EXPECT_EQ(s.unused(0), 3u);   // 30 days
    EXPECT_EQ(s.unused(1), 2u);   // 90 days
}

TEST(KeyStats, UnreadableTimesAreAbsent)
{
    KeyStats s;
    s.add(facts("active", "soon", "yesterday", "-5"), kNow);
    s.add(facts("active", "12x", "", ""), kNow);
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

TEST(KeyStats, NearLimitByQuotaOrCredits)
{
    // 1800000000 is 2027-01-15 08:00 UTC
    apikey::QuotaCounts today = {{"default/day", "20270115:8"}};
    apikey::QuotaCounts yesterday = {{"default/day", "20270114:9"}};
    KeyFacts k;
    k.status = "active";
    k.quota = "10/day";
    EXPECT_TRUE(KeyStats::near_limit(k, kNow, today)) << "8 of 10 today";
    EXPECT_FALSE(KeyStats::near_limit(k, kNow, yesterday)) << "yesterday's count is no count";
    k.quota = "11/day";
    EXPECT_FALSE(KeyStats::near_limit(k, kNow, today)) << "8 of 11 is under 80%";
    k.quota = "";
    k.plan_quota = "1000/month 10/day";
    EXPECT_TRUE(KeyStats::near_limit(k, kNow, today)) << "the plan's quota when none of its own";
    k.quota = "100/day";
    EXPECT_FALSE(KeyStats::near_limit(k, kNow, today)) << "its own quota replaces the plan's";

    KeyFacts c;
    c.status = "active";
    c.credits = "2";
    c.credits_granted = "10";
    EXPECT_TRUE(KeyStats::near_limit(c, kNow, {})) << "8 of 10 credits used";
    c.credits = "3";
    EXPECT_FALSE(KeyStats::near_limit(c, kNow, {}));
    c.credits = "0";
    c.refill = "10/day";
    std::string yesterday_s = at(kNow - kDay), hour_ago = at(kNow - 3600);
    c.refilled = yesterday_s;
    EXPECT_FALSE(KeyStats::near_limit(c, kNow, {})) << "a refill is due: full again at next use";
    c.refilled = hour_ago;
    EXPECT_TRUE(KeyStats::near_limit(c, kNow, {})) << "refilled today, all used";
    c.credits_granted = "";
    EXPECT_FALSE(KeyStats::near_limit(c, kNow, {})) << "nothing granted to measure against";

    KeyStats stats;
    stats.add(k, kNow, today);
    stats.add(c, kNow);
    c.credits_granted = "10";
    c.status = "revoked";
    stats.add(c, kNow);
    EXPECT_EQ(stats.near_limit(), 0u);
    k.quota = "10/day";
    stats.add(k, kNow, today);
    EXPECT_EQ(stats.near_limit(), 1u) << "active keys only";
}
