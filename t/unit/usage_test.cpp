#include "usage.hpp"

#include <gtest/gtest.h>

using apikey::Outcome;
using apikey::UsageResult;
using apikey::UsageTable;

TEST(Usage, OutcomesMapToResults)
{
    EXPECT_EQ(apikey::usage_result_of(Outcome::kOk), UsageResult::kOk);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kForbidden), UsageResult::kForbidden);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kIpNotAllowed), UsageResult::kForbidden);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kWrongEnvironment), UsageResult::kForbidden);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kLimited), UsageResult::kLimited);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kRevoked), UsageResult::kInvalid);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kExpired), UsageResult::kInvalid);
    EXPECT_EQ(apikey::usage_result_of(Outcome::kDisabled), UsageResult::kInvalid);
    for (Outcome o : {Outcome::kMissing, Outcome::kMalformed, Outcome::kAmbiguous,
                      Outcome::kInvalid, Outcome::kError, Outcome::kInsecure}) {
        EXPECT_FALSE(apikey::usage_result_of(o).has_value());
    }
    EXPECT_EQ(apikey::usage_word(UsageResult::kOk), "ok");
    EXPECT_EQ(apikey::usage_word(UsageResult::kInvalid), "invalid");
}

TEST(Usage, Days)
{
    EXPECT_EQ(apikey::usage_day(0), 19700101u);
    EXPECT_EQ(apikey::usage_day(86399), 19700101u);
    EXPECT_EQ(apikey::usage_day(86400), 19700102u);
    EXPECT_EQ(apikey::usage_day(951782400), 20000229u);   // a leap day
    EXPECT_EQ(apikey::usage_day(1798761600 - 1), 20261231u);
    EXPECT_EQ(apikey::usage_day(1798761600), 20270101u);
    EXPECT_EQ(apikey::usage_day_start(20270101), 1798761600);
    EXPECT_EQ(apikey::usage_day_start(20260231), 0);
    EXPECT_EQ(apikey::usage_day_start(20261301), 0);
    EXPECT_EQ(apikey::usage_expire_at(20261231), 1798761600 + 90 * 86400);
    EXPECT_EQ(apikey::usage_redis_key("ak:", "abc", 20261201), "ak:usage:{abc}:20261201");
}

TEST(Usage, TableAggregatesAndDrains)
{
    UsageTable t(2);
    EXPECT_TRUE(t.add("a", 20261201, UsageResult::kOk));
    EXPECT_TRUE(t.add("a", 20261201, UsageResult::kOk));
    EXPECT_TRUE(t.add("a", 20261201, UsageResult::kLimited));
    EXPECT_TRUE(t.add("b", 20261201, UsageResult::kForbidden));
    EXPECT_FALSE(t.add("c", 20261201, UsageResult::kOk));        // full: dropped
    EXPECT_FALSE(t.add("a", 20261202, UsageResult::kOk));        // another day is another pair
    EXPECT_TRUE(t.add("b", 20261201, UsageResult::kForbidden));  // known pairs still count
    EXPECT_EQ(t.size(), 2u);

    auto incs = t.drain();
    EXPECT_TRUE(t.empty());
    ASSERT_EQ(incs.size(), 2u);
    for (const auto &i : incs) {
        EXPECT_EQ(i.day, 20261201u);
        if (i.id == "a") {
            EXPECT_EQ(i.counts[0], 2u);
            EXPECT_EQ(i.counts[2], 1u);
            EXPECT_EQ(i.counts[1], 0u);
        } else {
            EXPECT_EQ(i.id, "b");
            EXPECT_EQ(i.counts[1], 2u);
        }
    }
    EXPECT_TRUE(t.add("c", 20261201, UsageResult::kOk));   // room again after a drain
}

TEST(Usage, ReportJson)
{
    auto days = apikey::usage_days(1798761600 + 5, 3);   // 2027-01-01
    ASSERT_EQ(days.size(), 3u);
    EXPECT_EQ(days[0], 20261230u);
    EXPECT_EQ(days[2], 20270101u);

    std::vector<apikey::UsageDay> report(2);
    report[0].day = 20261231;
    apikey::add_usage_fields(report[0], {"ok", "5", "limited", "2", "bad field", "1", "ok", "x"});
    report[1].day = 20270101;
    apikey::add_usage_fields(report[1], {"quota_exceeded", "1", "forbidden", "3"});
    EXPECT_EQ(report[0].total(), 7u);

    std::string out = "{";
    apikey::append_usage_json(out, report);
    EXPECT_EQ(out,
              "{\"days\":[{\"date\":\"2026-12-31\",\"ok\":5,\"forbidden\":0,\"limited\":2,"
              "\"invalid\":0,\"quota_exceeded\":0,\"credits_exhausted\":0,\"total\":7},"
              "{\"date\":\"2027-01-01\",\"ok\":0,\"forbidden\":3,\"limited\":0,\"invalid\":0,"
              "\"quota_exceeded\":1,\"credits_exhausted\":0,\"total\":4}],"
              "\"total\":{\"ok\":5,\"forbidden\":3,\"limited\":2,\"invalid\":0,"
              "\"quota_exceeded\":1,\"credits_exhausted\":0,\"total\":11}");
}
