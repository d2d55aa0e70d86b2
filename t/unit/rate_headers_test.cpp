#include <gtest/gtest.h>

#include "rate.hpp"
#include "rate_headers.hpp"

using namespace apikey;

TEST(RateHeaders, NoBucketsNoHeaders) {
    EXPECT_FALSE(rate_headers(nullptr, 0).present);
}

TEST(RateHeaders, SingleBucket) {
    BucketState b{10, 600000, 9, 600000, 0};
    auto h = rate_headers(&b, 1);
    EXPECT_TRUE(h.present);
    EXPECT_EQ(h.limit, 10);
    EXPECT_EQ(h.remaining, 9);
    EXPECT_EQ(h.reset, 1);
    EXPECT_EQ(h.retry_after, 0);
    char buf[kMaxPolicyLength];
    EXPECT_EQ(std::string(buf, format_policy(&b, 1, buf, sizeof(buf))), "10;w=6");
}

TEST(RateHeaders, ReportsTheTightestBucket) {
    BucketState b[2] = {{10, 600000, 7, 2000000, 0}, {10000, 8640000, 3, 9000000, 0}};
    auto h = rate_headers(b, 2);
    EXPECT_EQ(h.limit, 10000);
    EXPECT_EQ(h.remaining, 3);
    EXPECT_EQ(h.reset, 9);
    char buf[kMaxPolicyLength];
    EXPECT_EQ(std::string(buf, format_policy(b, 2, buf, sizeof(buf))), "10;w=6, 10000;w=86400");
    EXPECT_EQ(format_policy(b, 2, buf, 10), 0u) << "too small a buffer: nothing";
}

TEST(RateHeaders, RefusedReportsTheLongestWait) {
    BucketState b[2] = {{10, 600000, 0, 6000000, 300000}, {5, 60000000, 0, 300000000, 2500000}};
    auto h = rate_headers(b, 2);
    EXPECT_EQ(h.retry_after, 3);
    EXPECT_EQ(h.limit, 5);
    EXPECT_EQ(h.remaining, 0);
}

TEST(RateHeaders, PolicyOfTheLargestBucketsFits) {
    BucketState b[kMaxBuckets];
    for (auto& x : b) x = BucketState{kMaxBurst, kMaxIntervalUs, 0, 0, 0};
    char buf[kMaxPolicyLength];
    EXPECT_GT(format_policy(b, kMaxBuckets, buf, sizeof(buf)), 0u);
}
