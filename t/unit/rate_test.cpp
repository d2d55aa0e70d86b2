#include <gtest/gtest.h>

#include "rate.hpp"

using namespace apikey;

TEST(Rate, Parse) {
    auto r = parse_rate("100r/m");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count, 100);
    EXPECT_EQ(r->unit, 'm');
    EXPECT_EQ(r->interval_us(), 600000);
    EXPECT_EQ(parse_rate("1r/d")->interval_us(), 86400000000);
    EXPECT_EQ(parse_rate("7r/s")->interval_us(), 142857);  // floor
    for (const char* bad : {"", "r/s", "0r/s", "10r/x", "10/s", "10r/", "-1r/s", "1.5r/s",
                            " 1r/s", "10R/s"}) {
        EXPECT_FALSE(parse_rate(bad)) << bad;
    }
}

TEST(Rate, LimitWithBurst) {
    std::string error;
    auto l = parse_limit("600r/m:50", error);
    ASSERT_TRUE(l) << error;
    EXPECT_EQ(l->burst, 50);
    EXPECT_EQ(l->to_string(), "600r/m:50");
    auto d = parse_limit("10000r/d", error);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->burst, 10000);  // default burst: one period's worth
    EXPECT_FALSE(parse_limit("10r/s:0", error));
    EXPECT_FALSE(parse_limit("10r/s:x", error));
    EXPECT_FALSE(parse_limit("2000000r/s", error));  // faster than 1/us
    EXPECT_FALSE(parse_limit("1r/d:20000", error));  // window over 31 years
    EXPECT_NE(error.find("31 years"), std::string::npos);
}

TEST(Rate, List) {
    std::string error;
    auto list = parse_limit_list(" 100r/m:10  10000r/d:10000 ", error);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ(format_limit_list(*list), "100r/m:10 10000r/d:10000");
    EXPECT_TRUE(parse_limit_list("", error)->empty());
    EXPECT_FALSE(parse_limit_list("100r/m:10 nope", error));
}

// A key's own limits on the request path: a fixed array, the same items as
// parse_limit_list, and nothing for a list the script would refuse too.
TEST(Rate, OwnLimitsWithoutAllocating) {
    OwnLimits own;
    ASSERT_TRUE(parse_own_limits("600r/m:50  10000r/d:10000", own));
    ASSERT_EQ(own.count, 2u);
    EXPECT_EQ(own.items[0].to_string(), "600r/m:50");
    EXPECT_EQ(own.items[1].interval_us(), 8640000);
    ASSERT_TRUE(parse_own_limits("", own));
    EXPECT_TRUE(own.empty());
    EXPECT_FALSE(parse_own_limits("600r/m:50 nonsense", own));
    EXPECT_TRUE(own.empty()) << "a malformed list gives no limits";
    std::string nine;
    for (int i = 1; i <= 9; i++) nine += std::to_string(i) + "r/s:1 ";
    EXPECT_FALSE(parse_own_limits(nine, own)) << "more than 8";
    nine.resize(nine.rfind("9r/s"));
    EXPECT_TRUE(parse_own_limits(nine, own));
    EXPECT_EQ(own.count, 8u);
}
