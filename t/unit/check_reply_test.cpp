#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "check_reply.hpp"

using namespace apikey;

namespace {

// Builds a reply the way hiredis does, from RESP bytes.
struct Reply {
    explicit Reply(const std::string& resp) {
        redisReader* reader = redisReaderCreate();
        redisReaderFeed(reader, resp.data(), resp.size());
        void* out = nullptr;
        EXPECT_EQ(redisReaderGetReply(reader, &out), REDIS_OK);
        reply = static_cast<redisReply*>(out);
        redisReaderFree(reader);
    }
    ~Reply() {
        if (reply) freeReplyObject(reply);
    }
    redisReply* reply = nullptr;
};

std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
std::string integer(long long n) { return ":" + std::to_string(n) + "\r\n"; }

constexpr long long kNow = 1700000000123LL;   // Redis's TIME, in ms

std::string head(const char* verdict, std::size_t buckets, const std::string& scopes = "read",
                 const std::string& missing = "") {
    return "*" + std::to_string(11 + 5 * buckets) + "\r\n" + bulk(verdict) + integer(kNow) +
           bulk("my key") +
           bulk(scopes) + integer(0) + bulk(missing) + integer(1700000000) + integer(0) +
           bulk("wxyz") + integer(0) + bulk("600r/m:50");
}

}  // namespace

TEST(CheckReply, Invalid) {
    Reply r("*2\r\n" + bulk("invalid") + integer(kNow));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(r.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kInvalid);
    EXPECT_EQ(out.now_ms, kNow);
}

TEST(CheckReply, LateInBothModes) {
    Reply r("*2\r\n" + bulk("late") + integer(kNow));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(r.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kLate);
    EXPECT_EQ(out.now_ms, kNow);
    ASSERT_TRUE(decode_check_reply(r.reply, out, error, true)) << error;
    EXPECT_EQ(out.verdict, Verdict::kLate);

    Reply longer("*3\r\n" + bulk("late") + integer(kNow) + bulk("x"));
    EXPECT_FALSE(decode_check_reply(longer.reply, out, error));
    Reply invalid("*2\r\n" + bulk("invalid") + integer(kNow));
    EXPECT_FALSE(decode_check_reply(invalid.reply, out, error, true))
        << "a limit-only reply is never invalid";
}

TEST(CheckReply, OkWithBuckets) {
    Reply r(head("ok", 2) + integer(10) + integer(600000) + integer(9) + integer(600000) +
            integer(0) + integer(10000) + integer(8640000) + integer(9999) + integer(8640000) +
            integer(0));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(r.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kOk);
    EXPECT_EQ(out.now_ms, kNow);
    EXPECT_EQ(out.name, "my key");
    EXPECT_EQ(out.scopes, "read");
    ASSERT_EQ(out.bucket_count, 2u);
    EXPECT_EQ(out.buckets[1].burst, 10000);
    EXPECT_EQ(out.buckets[0].remaining, 9);
    EXPECT_EQ(out.created, 1700000000);
    EXPECT_EQ(out.hint, "wxyz");
    EXPECT_EQ(out.token_until, 0);
    EXPECT_EQ(out.limits, "600r/m:50");
}

TEST(CheckReply, Forbidden) {
    Reply r(head("forbidden", 0, "read", "write"));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(r.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kForbidden);
    EXPECT_EQ(out.missing_scope, "write");
}

TEST(CheckReply, RedisErrorIsCopied) {
    Reply r("-NOSCRIPT No matching script. Please use EVAL.\r\n");
    CheckReply out;
    std::string error;
    EXPECT_FALSE(decode_check_reply(r.reply, out, error));
    EXPECT_EQ(error.rfind("NOSCRIPT", 0), 0u);
}

TEST(CheckReply, EmptyErrorReplyStillExplains) {
    Reply r("-\r\n");
    CheckReply out;
    std::string error;
    EXPECT_FALSE(decode_check_reply(r.reply, out, error));
    EXPECT_FALSE(error.empty());
}

TEST(CheckReply, NullReplyIsAnError) {
    CheckReply out;
    std::string error;
    EXPECT_FALSE(decode_check_reply(nullptr, out, error));
}

class BadReplies : public ::testing::TestWithParam<std::string> {};

TEST_P(BadReplies, AreErrorsNeverPasses) {
    Reply r(GetParam());
    CheckReply out;
    std::string error;
    EXPECT_FALSE(decode_check_reply(r.reply, out, error));
    EXPECT_FALSE(error.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadReplies,
    ::testing::Values(
        "+OK\r\n", ":1\r\n", "$-1\r\n", "*0\r\n", "*1\r\n" + bulk("maybe"),
        "*1\r\n" + integer(1),
        "*1\r\n" + bulk("ok"),                                    // too short
        "*1\r\n" + bulk("invalid"),                               // no time
        "*2\r\n" + bulk("invalid") + bulk("1700000000123"),        // time not a number
        "*2\r\n" + bulk("invalid") + integer(0),                   // nor a plausible one
        "*2\r\n" + bulk("late") + integer(-1),
        "*3\r\n" + bulk("invalid") + integer(kNow) + bulk(""),     // invalid says no more
        "*10\r\n" + bulk("ok") + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + bulk(""),          // a v1 reply: no time
        head("ok", 1),                                            // bucket missing
        "*11\r\n" + bulk("ok") + integer(kNow) + integer(1) + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + bulk(""),  // name not a string
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("bad\"scope") + integer(0) + bulk("") +
            integer(0) + integer(0) + bulk("") + integer(0) + bulk(""),
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("line\r\nbreak") + bulk("") + integer(0) + bulk("") +
            integer(0) + integer(0) + bulk("") + integer(0) + bulk(""),
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(-5) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + bulk(""),
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("hint\n") + integer(0) + bulk(""),                 // control byte in hint
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + bulk("soon") + bulk(""),          // token_until not a number
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + integer(5),         // limits not a string
        "*10\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0),                      // the older, shorter head
        head("forbidden", 0, "read", ""),                         // forbidden without scope
        head("ok", 1) + integer(0) + integer(1) + integer(0) + integer(0) + integer(0),
        head("ok", 1) + integer(1) + integer(1) + integer(-1) + integer(0) + integer(0),
        head("ok", 1) + integer(1) + integer(1) + integer(0) + integer(0) + integer(5),
        head("limited", 1) + integer(1) + integer(1) + integer(0) + integer(0) + integer(0),
        head("ok", 1) + integer(1) + bulk("1") + integer(0) + integer(0) + integer(0),
        // out of the bounds the module ever sends (found by fuzzing: burst *
        // interval overflowed in the RateLimit-Policy arithmetic)
        head("ok", 1) + integer(9000000000000000000LL) + integer(86400000000LL) + integer(0) +
            integer(0) + integer(0),
        head("ok", 1) + integer(10) + integer(86400000001LL) + integer(0) + integer(0) + integer(0),
        head("ok", 1) + integer(10) + integer(1) + integer(11) + integer(0) + integer(0)));

TEST(CheckReply, TooManyBuckets) {
    std::string resp = head("ok", kMaxBuckets + 1);
    for (std::size_t i = 0; i < kMaxBuckets + 1; i++) {
        resp += integer(1) + integer(1) + integer(0) + integer(0) + integer(0);
    }
    Reply r(resp);
    CheckReply out;
    std::string error;
    EXPECT_FALSE(decode_check_reply(r.reply, out, error));
}

TEST(CheckReply, LimitOnlyShape) {
    Reply ok("*7\r\n" + bulk("ok") + integer(kNow) + integer(10) + integer(600000) + integer(9) + integer(600000) +
             integer(0));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(ok.reply, out, error, true)) << error;
    EXPECT_EQ(out.verdict, Verdict::kOk);
    ASSERT_EQ(out.bucket_count, 1u);
    EXPECT_EQ(out.buckets[0].remaining, 9);

    Reply limited("*7\r\n" + bulk("limited") + integer(kNow) + integer(10) + integer(600000) + integer(0) +
                  integer(6000000) + integer(600000));
    ASSERT_TRUE(decode_check_reply(limited.reply, out, error, true)) << error;
    EXPECT_EQ(out.verdict, Verdict::kLimited);

    Reply forbidden(head("forbidden", 0, "read", "write"));
    EXPECT_FALSE(decode_check_reply(forbidden.reply, out, error, true))
        << "a limit-only reply is ok or limited, nothing else";
    Reply full(head("ok", 1) + integer(10) + integer(600000) + integer(9) + integer(600000) +
               integer(0));
    EXPECT_FALSE(decode_check_reply(full.reply, out, error, true)) << "not the long shape";
}
