#include <gtest/gtest.h>

#include "bucket.hpp"
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

// --- the current draft's fields (apikey_ratelimit_headers draft) ---

namespace {

std::string draft_policy(const RatePolicy* p, std::size_t n) {
    char buf[kMaxDraftLength];
    return std::string(buf, format_draft_policy(p, n, buf, sizeof(buf)));
}

std::string draft_limit(const RatePolicy* p, std::size_t n) {
    char buf[kMaxDraftLength];
    return std::string(buf, format_draft_limit(p, n, buf, sizeof(buf)));
}

Limit L(std::int64_t count, char unit, std::int64_t burst) {
    Limit l;
    l.count = count;
    l.unit = unit;
    l.burst = burst;
    return l;
}

}  // namespace

TEST(DraftHeaders, SingleBucketAsInTheIssue) {
    // 100r/m burst=10 after its first request: 9 left, the 10th back in 0.6 s
    RatePolicy p{"default", {10, 600000, 9, 600000, 0}};
    EXPECT_EQ(draft_policy(&p, 1), "\"default\";q=10;w=6");
    EXPECT_EQ(draft_limit(&p, 1), "\"default\";r=9;t=1");
}

TEST(DraftHeaders, TIsTheNextTokenNotTheFullBucket) {
    // 10 per 6 s holding 2.5 tokens: full in 4.5 s (legacy Reset: 5), the
    // third whole token in 0.3 s
    BucketState b{10, 600000, 2, 4500000, 0};
    EXPECT_EQ(next_token_seconds(b), 1) << "0.3 s rounds up to 1";
    EXPECT_EQ(rate_headers(&b, 1).reset, 5);
    // 10000 a day holding 3.42: the fourth in 5 s
    RatePolicy d{"daily", {10000, 8640000, 3, 9996 * 8640000LL + 5000000, 0}};
    EXPECT_EQ(next_token_seconds(d.state), 5);
    EXPECT_EQ(draft_limit(&d, 1), "\"daily\";r=3;t=5");
}

TEST(DraftHeaders, RefusedTIsRetryAfter) {
    RatePolicy p[2] = {{"default", {10, 600000, 0, 6000000, 300000}},
                       {"export", {5, 60000000, 0, 300000000, 2500000}}};
    EXPECT_EQ(draft_limit(p, 2), "\"export\";r=0;t=3");
    EXPECT_EQ(rate_headers(&p[0].state, 1).retry_after, 1);
    EXPECT_EQ(next_token_seconds(p[1].state), retry_after_seconds(2500000));
}

TEST(DraftHeaders, RefusingBucketBeatsOneWithFewerTokens) {
    // a refusal always names a refusing bucket, whatever the others hold
    RatePolicy p[2] = {{"a", {10, 600000, 0, 600000, 0}},
                       {"b", {5, 1000000, 0, 5000000, 1000000}}};
    EXPECT_EQ(closest_policy(p, 2), 1u);
}

TEST(DraftHeaders, ClosestIsFewestTokensThenLongestWait) {
    RatePolicy p[3] = {{"minute", {10, 600000, 7, 1500000, 0}},
                       {"day", {10000, 8640000, 3, 9996 * 8640000LL + 2000000, 0}},
                       {"hour", {100, 36000000, 3, 96 * 36000000LL + 9000000, 0}}};
    EXPECT_EQ(closest_policy(p, 3), 2u) << "r=3 twice: the longer t (9 s over 2 s)";
    EXPECT_EQ(draft_limit(p, 3), "\"hour\";r=3;t=9");
    EXPECT_EQ(draft_policy(p, 3),
              "\"minute\";q=10;w=6, \"day\";q=10000;w=86400, \"hour\";q=100;w=3600");
}

TEST(DraftHeaders, SfStringEscapes) {
    char buf[32];
    EXPECT_EQ(std::string(buf, format_sf_string("a\"b\\c", buf, sizeof(buf))), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(std::string(buf, format_sf_string("x\ty\x80", buf, sizeof(buf))), "\"x?y?\"");
    EXPECT_EQ(format_sf_string("abcdef", buf, 7), 0u) << "8 bytes do not fit in 7";
    EXPECT_EQ(format_sf_string("abcdef", buf, 8), 8u);
}

TEST(DraftHeaders, PolicyNames) {
    EXPECT_EQ(policy_name("default", L(100, 'm', 10), true).view(), "default");
    EXPECT_EQ(policy_name("default", L(100, 'm', 10), false).view(), "default/100r/m:10");
    EXPECT_EQ(policy_name("daily", L(10000, 'd', 10000), false).view(), "daily/10000r/d:10000");
    std::string longest(64, 'x');
    auto n = policy_name(longest, L(1000000, 'd', kMaxBurst), false);
    EXPECT_EQ(n.view(), longest + "/1000000r/d:1000000") << "the longest name fits";
}

TEST(DraftHeaders, NamesFollowTheReplyOrder) {
    Limit dflt[2] = {L(100, 'm', 10), L(10000, 'd', 10000)};
    Limit exp[1] = {L(2, 'm', 2)};
    PolicySet sets[2] = {{"default", dflt, 2, true}, {"export", exp, 1, false}};
    std::array<PolicyName, kMaxBuckets> names;

    ASSERT_TRUE(name_policies(sets, 2, {}, 3, names));
    EXPECT_EQ(names[0].view(), "default/100r/m:10");
    EXPECT_EQ(names[1].view(), "default/10000r/d:10000");
    EXPECT_EQ(names[2].view(), "export");

    // the key's own limits replace the default set's lines (and its names)
    std::vector<Limit> own = {L(600, 'm', 50)};
    ASSERT_TRUE(name_policies(sets, 2, own, 2, names));
    EXPECT_EQ(names[0].view(), "default");
    EXPECT_EQ(names[1].view(), "export");

    EXPECT_FALSE(name_policies(sets, 2, own, 3, names)) << "a reply of another shape: no names";
    EXPECT_FALSE(name_policies(sets, 2, {}, 2, names));
}

TEST(DraftHeaders, LargestFieldsFit) {
    std::string longest(64, '"');  // every byte escaped: the longest sf-string
    RatePolicy p[kMaxBuckets];
    for (auto& x : p) x = RatePolicy{longest, {kMaxBurst, kMaxIntervalUs, kMaxBurst - 1,
                                               kMaxBurst * kMaxIntervalUs, 0}};
    char buf[kMaxDraftLength];
    EXPECT_GT(format_draft_policy(p, kMaxBuckets, buf, sizeof(buf)), 0u);
    EXPECT_GT(format_draft_limit(p, kMaxBuckets, buf, sizeof(buf)), 0u);
    EXPECT_EQ(format_draft_policy(p, kMaxBuckets, buf, 100), 0u) << "too small: nothing";
    EXPECT_EQ(format_draft_policy(p, 0, buf, sizeof(buf)), 0u);
}
