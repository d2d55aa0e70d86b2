#include <gtest/gtest.h>

#include "keyspace.hpp"
#include "quota.hpp"
#include "usage.hpp"

using namespace apikey;

TEST(Quota, ParsesAndFormatsLists)
{
    std::string err;
    auto l = parse_quota_list("1000000/month 500/day", err);
    ASSERT_TRUE(l) << err;
    ASSERT_EQ(l->size(), 2u);
    EXPECT_EQ((*l)[0], (Quota{1000000, QuotaPeriod::kMonth}));
    EXPECT_EQ(format_quota_list(*l), "1000000/month 500/day");
    EXPECT_TRUE(parse_quota_list("", err)->empty());
}

TEST(Quota, RefusesBadText)
{
    std::string err;
    for (auto bad : {"0/day", "-1/day", "+5/day", "5/year", "5", "/day", "5/Day", "x/day",
                     "1000000000001/month", "5/day 6/day", "1/day 1/week 1/month 1/day"}) {
        EXPECT_FALSE(parse_quota_list(bad, err)) << bad;
        EXPECT_FALSE(err.empty());
    }
}

TEST(Quota, RefillIsDayOrMonth)
{
    std::string err;
    EXPECT_EQ(parse_refill("0/day", err)->count, 0);
    EXPECT_EQ(parse_refill("100/month", err)->period, QuotaPeriod::kMonth);
    EXPECT_FALSE(parse_refill("100/week", err));
    EXPECT_FALSE(parse_refill("100", err));
}

TEST(Quota, PeriodsAreUtcCalendarPeriods)
{
    // 2026-12-01 22:30:00 UTC is a Tuesday
    std::int64_t t = usage_day_start(20261201) + 22 * 3600 + 1800;
    auto d = period_span(QuotaPeriod::kDay, t);
    EXPECT_EQ(d.first_day, 20261201u);
    EXPECT_EQ(d.end - d.start, 86400);
    auto w = period_span(QuotaPeriod::kWeek, t);
    EXPECT_EQ(w.first_day, 20261130u);   // Monday
    EXPECT_EQ(w.end, usage_day_start(20261207));
    auto m = period_span(QuotaPeriod::kMonth, t);
    EXPECT_EQ(m.first_day, 20261201u);
    EXPECT_EQ(m.end, usage_day_start(20270101));
    // February of a leap year, a Monday itself, the epoch
    auto feb = period_span(QuotaPeriod::kMonth, usage_day_start(20280229) + 5);
    EXPECT_EQ(feb.first_day, 20280201u);
    EXPECT_EQ(feb.end - feb.start, 29 * 86400);
    EXPECT_EQ(period_span(QuotaPeriod::kWeek, usage_day_start(20261130)).first_day, 20261130u);
    EXPECT_EQ(period_span(QuotaPeriod::kWeek, usage_day_start(20261130) - 1).first_day, 20261123u);
    EXPECT_EQ(period_span(QuotaPeriod::kWeek, 0).first_day, 19691229u);
}

TEST(Quota, StoredCounts)
{
    EXPECT_EQ(quota_used("20261201:41", 20261201), 41);
    EXPECT_EQ(quota_used("20261130:41", 20261201), 0);
    EXPECT_EQ(quota_used("garbage", 20261201), 0);
    EXPECT_EQ(quota_used("20261201:-3", 20261201), 0);
    EXPECT_EQ(quota_redis_key("apikey:", "abc"), "apikey:quota:{abc}");
    EXPECT_EQ(owner_quota_redis_key("apikey:", "acct_1"), "apikey:owner_quota:acct_1");
    EXPECT_EQ(quota_field("default", QuotaPeriod::kWeek), "default/week");
}
