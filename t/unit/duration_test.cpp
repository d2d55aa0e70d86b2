#include <gtest/gtest.h>

#include "duration.hpp"

using namespace apikey;

TEST(Duration, Parse) {
    EXPECT_EQ(*parse_duration("90d"), 90 * 86400);
    EXPECT_EQ(*parse_duration("1h30m"), 5400);
    EXPECT_EQ(*parse_duration("2w"), 14 * 86400);
    EXPECT_EQ(*parse_duration("1y"), 365 * 86400);
    EXPECT_EQ(*parse_duration("45"), 45);
    EXPECT_EQ(*parse_duration("10s"), 10);
    for (const char* bad : {"", "0", "0d", "d", "1x", "1h30", "-1d", "1.5h", "99999999999y"}) {
        EXPECT_FALSE(parse_duration(bad)) << bad;
    }
}

TEST(Duration, Format) {
    EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_utc(1795431293), "2026-11-23T10:54:53Z");
    EXPECT_EQ(format_relative(1000, 1030), "just now");
    EXPECT_EQ(format_relative(1000, 1000 + 3 * 86400 + 5), "3 days ago");
    EXPECT_EQ(format_relative(1000 + 7200, 1000), "in 2 hours");
    EXPECT_EQ(format_relative(1000, 1000 + 60), "1 minute ago");
}
