#include <gtest/gtest.h>

#include "local_check.hpp"

using namespace apikey;

namespace {

CachedRecord active() {
    CachedRecord r;
    r.state = CachedRecord::State::kActive;
    r.id = "abcdefghijkl";
    r.scopes = "read";
    r.expires = 1000;
    return r;
}

Verdict decide(const CachedRecord& r, std::int64_t now, std::string_view required = "",
               std::string_view super = "", std::string_view env = "",
               std::string_view client = "192.0.2.1") {
    std::string_view missing;
    return decide_cached(r, now, CheckRequest{required, super, env, client}, missing);
}

}  // namespace

TEST(LocalCheck, MirrorsTheScriptsOrder) {
    CachedRecord unknown;
    EXPECT_EQ(decide(unknown, 0), Verdict::kInvalid);

    CachedRecord r = active();
    EXPECT_EQ(decide(r, 999), Verdict::kOk);
    EXPECT_EQ(decide(r, 1000), Verdict::kExpired);
    EXPECT_EQ(decide(r, 999, "write"), Verdict::kForbidden);
    EXPECT_EQ(decide(r, 999, "write", "read"), Verdict::kOk) << "a superscope";

    r.state = CachedRecord::State::kRevoked;
    EXPECT_EQ(decide(r, 2000, "write"), Verdict::kRevoked) << "revoked before expired and scopes";

    r = active();
    r.token_until = 500;
    EXPECT_EQ(decide(r, 499), Verdict::kOk) << "previous token in its grace";
    EXPECT_EQ(decide(r, 500), Verdict::kInvalid) << "grace over";

    r.expires = 0;
    r.token_until = 0;
    EXPECT_EQ(decide(r, 1LL << 40), Verdict::kOk) << "never expires";
}

TEST(LocalCheck, NamesTheMissingScope) {
    CachedRecord r = active();
    std::string_view missing;
    EXPECT_EQ(decide_cached(r, 0, CheckRequest{"read write", "", "", ""}, missing),
              Verdict::kForbidden);
    EXPECT_EQ(missing, "write");
}

TEST(LocalCheck, RecordsUseAsTheScriptDoes) {
    // the script writes last_used after the expiry test and before the scopes
    // and the buckets: an active key's presented secret counts, whatever then
    EXPECT_TRUE(records_use(Verdict::kOk));
    EXPECT_TRUE(records_use(Verdict::kForbidden));
    EXPECT_TRUE(records_use(Verdict::kLimited));
    EXPECT_FALSE(records_use(Verdict::kExpired)) << "an expired key is not in use";
    EXPECT_FALSE(records_use(Verdict::kRevoked));
    EXPECT_FALSE(records_use(Verdict::kInvalid));
    EXPECT_FALSE(records_use(Verdict::kLate)) << "a late check changes nothing";
    // issue 14: refusals that take no token and write nothing
    EXPECT_FALSE(records_use(Verdict::kDisabled));
    EXPECT_FALSE(records_use(Verdict::kWrongEnv));
    EXPECT_FALSE(records_use(Verdict::kIpDenied));
}

// The order of the script (check_script.cpp): grace, revoked, disabled,
// expired, environment, address, scopes.
TEST(LocalCheck, Issue14InTheScriptsOrder) {
    CachedRecord r = active();
    r.state = CachedRecord::State::kDisabled;
    EXPECT_EQ(decide(r, 2000, "write", "", "test", "10.0.0.1"), Verdict::kDisabled)
        << "disabled before expired, environment, address and scopes";
    r.token_until = 500;
    EXPECT_EQ(decide(r, 600), Verdict::kInvalid) << "an ended grace first, as for revoked";

    r = active();
    EXPECT_EQ(decide(r, 1000, "", "", "test"), Verdict::kExpired) << "expired before environment";
    EXPECT_EQ(decide(r, 0, "", "", "live"), Verdict::kOk) << "no env in the record: live";
    EXPECT_EQ(decide(r, 0, "", "", "test"), Verdict::kWrongEnv);
    EXPECT_EQ(decide(r, 0, "", "", ""), Verdict::kOk) << "apikey_env any";
    r.env = "test";
    EXPECT_EQ(decide(r, 0, "", "", "test"), Verdict::kOk);
    EXPECT_EQ(decide(r, 0, "", "", "live"), Verdict::kWrongEnv);

    r = active();
    r.allow_ip = "203.0.113.0/24 2001:db8::/32";
    EXPECT_EQ(decide(r, 0, "", "", "", "203.0.113.9"), Verdict::kOk);
    EXPECT_EQ(decide(r, 0, "", "", "", "2001:db8::7"), Verdict::kOk);
    EXPECT_EQ(decide(r, 0, "", "", "", "198.51.100.1"), Verdict::kIpDenied);
    EXPECT_EQ(decide(r, 0, "write", "", "", "198.51.100.1"), Verdict::kIpDenied)
        << "the address before the scopes";
    EXPECT_EQ(decide(r, 0, "", "", "test", "198.51.100.1"), Verdict::kWrongEnv)
        << "the environment before the address";
}

TEST(LocalCheck, EnvAccepts) {
    EXPECT_TRUE(env_accepts("", "test"));
    EXPECT_TRUE(env_accepts("live", ""));
    EXPECT_TRUE(env_accepts("live", "live"));
    EXPECT_FALSE(env_accepts("live", "test"));
    EXPECT_FALSE(env_accepts("test", ""));
}

TEST(LocalCheck, LastKnownGood) {
    using State = CachedRecord::State;
    struct Case {
        State state;
        std::int64_t confirmed_at, now, max_age;
        bool usable;
    } cases[] = {
        {State::kActive, 1000, 1000, 300, true},
        {State::kActive, 1000, 1299, 300, true},
        {State::kActive, 1000, 1300, 300, false},    // max_age reached
        {State::kActive, 1000, 5000, 300, false},
        {State::kActive, 1000, 900, 300, true},      // clock stepped back
        {State::kActive, 0, 1000, 300, false},       // never confirmed
        {State::kActive, 1000, 1000, 0, false},
        {State::kRevoked, 1000, 1000, 300, false},
        {State::kDisabled, 1000, 1000, 300, false},
        {State::kUnknown, 1000, 1000, 300, false},   // a negative entry
    };
    for (const auto& c : cases) {
        EXPECT_EQ(last_known_good(c.state, c.confirmed_at, c.now, c.max_age), c.usable)
            << "confirmed_at " << c.confirmed_at << " now " << c.now << " max_age " << c.max_age;
    }
}
