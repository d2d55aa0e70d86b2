#include <gtest/gtest.h>

#include <vector>

#include "bucket.hpp"

using namespace apikey;

namespace {

constexpr BucketParams kDefault{600000, 10};  // 100r/m burst=10
constexpr std::int64_t kT0 = 1'700'000'000'000'000;

}  // namespace

TEST(Bucket, FullBucketAllowsBurstThenRefuses) {
    std::int64_t tat = 0;
    for (int i = 0; i < 10; i++) {
        auto d = take_token(tat, kT0, kDefault);
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.remaining, 9 - i);
        EXPECT_EQ(d.retry_us, 0);
        tat = d.tat;
    }
    auto d = take_token(tat, kT0, kDefault);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.remaining, 0);
    EXPECT_EQ(d.retry_us, 600000);
    EXPECT_EQ(d.reset_us, 6000000);
    EXPECT_EQ(d.tat, tat) << "a refused request takes no token";
}

TEST(Bucket, RefillsFractionally) {
    std::int64_t tat = kT0 + 6000000;  // empty at kT0
    EXPECT_FALSE(take_token(tat, kT0 + 599999, kDefault).allowed);
    auto d = take_token(tat, kT0 + 600000, kDefault);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 0);
    // half-way through a refill, the retry time is the other half
    auto r = take_token(d.tat, kT0 + 900000, kDefault);
    EXPECT_FALSE(r.allowed);
    EXPECT_EQ(r.retry_us, 300000);
}

TEST(Bucket, IdleBucketIsFullAndNeverOverfills) {
    auto d = take_token(kT0, kT0 + 3600'000000, kDefault);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 9);
}

TEST(Bucket, SteadyRateAtExactlyTheInterval) {
    std::int64_t tat = 0;
    int allowed = 0;
    for (int i = 0; i < 1000; i++) {
        auto d = take_token(tat, kT0 + i * 600000LL, kDefault);
        allowed += d.allowed;
        tat = d.tat;
    }
    EXPECT_EQ(allowed, 1000);
}

TEST(Bucket, OverlongRunConvergesToRate) {
    // 5 r/s against 100 r/m burst 10 for 12 s: 10 from the burst, plus one per 0.6 s
    std::int64_t tat = 0;
    int allowed = 0;
    for (int i = 0; i < 60; i++) {
        auto d = take_token(tat, kT0 + i * 200000LL, kDefault);
        allowed += d.allowed;
        tat = d.tat;
    }
    // arrivals span 11.8 s: 10 + floor(11.8 / 0.6) = 29
    EXPECT_EQ(allowed, 29);
}

TEST(Bucket, Seconds) {
    EXPECT_EQ(retry_after_seconds(0), 1);
    EXPECT_EQ(retry_after_seconds(1), 1);
    EXPECT_EQ(retry_after_seconds(1000000), 1);
    EXPECT_EQ(retry_after_seconds(1000001), 2);
    EXPECT_EQ(ceil_seconds(0), 0);
    EXPECT_EQ(ceil_seconds(6000000), 6);
}
