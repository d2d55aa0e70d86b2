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

// The v3 fields after the v2 head: owner, role, plan, env, meta, allow_ip.
struct Model {
    std::string owner = "acct_42", role = "reader", plan = "gold", env = "test",
                meta = "{\"tenant\":\"t-1\"}", allow_ip = "10.0.0.0/8";
    std::string resp() const {
        return bulk(owner) + bulk(role) + bulk(plan) + bulk(env) + bulk(meta) + bulk(allow_ip);
    }
};

// The v5 fields after the record: the effective quota, credits (-1: none),
// seconds to the next refill, the number of quotas; then `quotas`, their states.
std::string head(const char* verdict, std::size_t buckets, const std::string& scopes = "read",
                 const std::string& missing = "", const Model& model = Model(),
                 std::int64_t credits = -1, std::size_t nquotas = 0,
                 const std::string& quotas = "") {
    return "*" + std::to_string(21 + 5 * nquotas + 5 * buckets) + "\r\n" + bulk(verdict) +
           integer(kNow) + bulk("my key") +
           bulk(scopes) + integer(0) + bulk(missing) + integer(1700000000) + integer(0) +
           bulk("wxyz") + integer(0) + bulk("600r/m:50") + model.resp() + bulk("1000/day") +
           integer(credits) + integer(credits >= 0 ? 3600 : 0) +
           integer(static_cast<long long>(nquotas)) + quotas;
}

std::string quota(const std::string& name, long long limit, long long remaining,
                  long long reset_s, bool exceeded) {
    return bulk(name) + integer(limit) + integer(remaining) + integer(reset_s) +
           integer(exceeded ? 1 : 0);
}

// A v2-shaped reply made v3 by appending empty model fields.
std::string v3(const std::string& v2) {
    return "*17" + v2.substr(3) + bulk("") + bulk("") + bulk("") + bulk("") + bulk("") + bulk("");
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
    EXPECT_EQ(out.owner, "acct_42");
    EXPECT_EQ(out.role, "reader");
    EXPECT_EQ(out.plan, "gold");
    EXPECT_EQ(out.env, "test");
    EXPECT_EQ(out.meta, "{\"tenant\":\"t-1\"}");
    EXPECT_EQ(out.allow_ip, "10.0.0.0/8");
}

TEST(CheckReply, Issue14Verdicts) {
    for (auto [word, verdict] : {std::pair{"disabled", Verdict::kDisabled},
                                 std::pair{"wrong_env", Verdict::kWrongEnv},
                                 std::pair{"ip_denied", Verdict::kIpDenied}}) {
        Reply r(head(word, 0));
        CheckReply out;
        std::string error;
        ASSERT_TRUE(decode_check_reply(r.reply, out, error)) << word << ": " << error;
        EXPECT_EQ(out.verdict, verdict);
    }
}

// What another program may have written into the model's fields is held to
// the rules before it reaches a variable, a header or the cache.
TEST(CheckReply, ModelFieldsAreChecked) {
    auto refused = [](Model m) {
        Reply r(head("ok", 0, "read", "", m));
        CheckReply out;
        std::string error;
        return !decode_check_reply(r.reply, out, error);
    };
    EXPECT_FALSE(refused(Model()));
    Model empty{"", "", "", "", "", ""};
    EXPECT_FALSE(refused(empty)) << "a v1 record: every field absent";
    Model m;
    m.env = "prod";
    EXPECT_TRUE(refused(m));
    m = Model();
    m.meta = "{\"Tenant\":\"x\"}";
    EXPECT_TRUE(refused(m));
    m.meta = "[1]";
    EXPECT_TRUE(refused(m));
    m = Model();
    m.owner = "line\nbreak";
    EXPECT_TRUE(refused(m));
    m = Model();
    m.owner = std::string(129, 'a');
    EXPECT_TRUE(refused(m));
    m = Model();
    m.allow_ip = "10.0.0.0/8\r\n";
    EXPECT_TRUE(refused(m));
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
        v3("*11\r\n" + bulk("ok") + integer(kNow) + integer(1) + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + bulk("")),  // name not a string
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("bad\"scope") + integer(0) + bulk("") +
            integer(0) + integer(0) + bulk("") + integer(0) + bulk("")),
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("line\r\nbreak") + bulk("") + integer(0) + bulk("") +
            integer(0) + integer(0) + bulk("") + integer(0) + bulk("")),
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(-5) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + bulk("")),
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("hint\n") + integer(0) + bulk("")),                 // control byte in hint
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + bulk("soon") + bulk("")),          // token_until not a number
        v3("*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0) + integer(5)),         // limits not a string
        "*10\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") + integer(0) +
            integer(0) + bulk("") + integer(0),                      // the older, shorter head
        head("forbidden", 0, "read", ""),                         // forbidden without scope
        // a v2 head (no model fields): a module never reads another version
        "*11\r\n" + bulk("ok") + integer(kNow) + bulk("n") + bulk("") + integer(0) + bulk("") +
            integer(0) + integer(0) + bulk("") + integer(0) + bulk(""),
        head("wrong_environment", 0),                             // not a verdict word
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

TEST(CheckReply, QuotasAndCredits) {
    const std::string bucket = integer(10) + integer(600000) + integer(9) + integer(600000) +
                               integer(0);
    Reply ok(head("ok", 1, "read", "", Model(), 41, 2,
                  quota("default/day", 1000, 998, 3600, false) +
                  quota("export/month", 50, 0, 86400, false)) + bucket);
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(ok.reply, out, error)) << error;
    EXPECT_EQ(out.quota, "1000/day");
    EXPECT_EQ(out.credits, 41);
    EXPECT_EQ(out.credits_reset_s, 3600);
    ASSERT_EQ(out.quota_count, 2u);
    EXPECT_EQ(out.quotas[0].name, "default/day");
    EXPECT_EQ(out.quotas[0].remaining, 998);
    EXPECT_EQ(out.quotas[1].reset_s, 86400);
    ASSERT_EQ(out.bucket_count, 1u);

    Reply over(head("quota_exceeded", 1, "read", "", Model(), -1, 1,
                    quota("default/day", 1000, 0, 3600, true)) + bucket);
    ASSERT_TRUE(decode_check_reply(over.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kQuotaExceeded);
    EXPECT_TRUE(out.quotas[0].exceeded);

    Reply spent(head("credits_exhausted", 1, "read", "", Model(), 0) + bucket);
    ASSERT_TRUE(decode_check_reply(spent.reply, out, error)) << error;
    EXPECT_EQ(out.verdict, Verdict::kCreditsExhausted);

    // the verdict must agree with the states it comes with
    Reply ok_but_over(head("ok", 1, "read", "", Model(), -1, 1,
                           quota("default/day", 1000, 0, 3600, true)) + bucket);
    EXPECT_FALSE(decode_check_reply(ok_but_over.reply, out, error));
    Reply over_but_none(head("quota_exceeded", 1) + bucket);
    EXPECT_FALSE(decode_check_reply(over_but_none.reply, out, error));
    Reply spent_without_credits(head("credits_exhausted", 1) + bucket);
    EXPECT_FALSE(decode_check_reply(spent_without_credits.reply, out, error));
    // and be within bounds
    Reply bad_remaining(head("ok", 1, "read", "", Model(), -1, 1,
                             quota("default/day", 10, 11, 3600, false)) + bucket);
    EXPECT_FALSE(decode_check_reply(bad_remaining.reply, out, error));
    Reply bad_reset(head("ok", 1, "read", "", Model(), -1, 1,
                         quota("default/day", 10, 1, 0, false)) + bucket);
    EXPECT_FALSE(decode_check_reply(bad_reset.reply, out, error));
    Reply too_many_quotas(head("ok", 0, "read", "", Model(), -1, kMaxQuotas + 1));
    EXPECT_FALSE(decode_check_reply(too_many_quotas.reply, out, error));
}

TEST(CheckReply, LimitOnlyShape) {
    Reply ok("*10\r\n" + bulk("ok") + integer(kNow) + integer(-1) + integer(0) + integer(0) +
             integer(10) + integer(600000) + integer(9) + integer(600000) + integer(0));
    CheckReply out;
    std::string error;
    ASSERT_TRUE(decode_check_reply(ok.reply, out, error, true)) << error;
    EXPECT_EQ(out.verdict, Verdict::kOk);
    ASSERT_EQ(out.bucket_count, 1u);
    EXPECT_EQ(out.buckets[0].remaining, 9);

    Reply limited("*10\r\n" + bulk("limited") + integer(kNow) + integer(-1) + integer(0) +
                  integer(0) + integer(10) + integer(600000) + integer(0) + integer(6000000) +
                  integer(600000));
    ASSERT_TRUE(decode_check_reply(limited.reply, out, error, true)) << error;
    EXPECT_EQ(out.verdict, Verdict::kLimited);

    Reply forbidden(head("forbidden", 0, "read", "write"));
    EXPECT_FALSE(decode_check_reply(forbidden.reply, out, error, true))
        << "a limit-only reply is ok or limited, nothing else";
    Reply full(head("ok", 1) + integer(10) + integer(600000) + integer(9) + integer(600000) +
               integer(0));
    EXPECT_FALSE(decode_check_reply(full.reply, out, error, true)) << "not the long shape";
}
