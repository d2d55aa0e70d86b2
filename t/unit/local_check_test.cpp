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
               std::string_view super = "") {
    std::string_view missing;
    return decide_cached(r, now, required, super, missing);
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
    EXPECT_EQ(decide_cached(r, 0, "read write", "", missing), Verdict::kForbidden);
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
}
