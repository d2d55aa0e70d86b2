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
