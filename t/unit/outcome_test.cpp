#include <gtest/gtest.h>

#include "outcome.hpp"

using namespace apikey;

TEST(Outcome, Table) {
    struct Row { Outcome o; const char* word; const char* code; int status; };
    const Row rows[] = {
        {Outcome::kOk, "ok", "", 0},
        {Outcome::kMissing, "missing", "missing_key", 401},
        {Outcome::kMalformed, "malformed", "malformed_key", 401},
        {Outcome::kAmbiguous, "malformed", "ambiguous_key", 401},
        {Outcome::kInvalid, "invalid", "invalid_key", 401},
        {Outcome::kRevoked, "revoked", "revoked_key", 401},
        {Outcome::kExpired, "expired", "expired_key", 401},
        {Outcome::kForbidden, "forbidden", "insufficient_scope", 403},
        {Outcome::kLimited, "limited", "rate_limited", 429},
        {Outcome::kError, "error", "auth_unavailable", 503},
        {Outcome::kInsecure, "insecure", "tls_required", 403},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(result_word(row.o), row.word);
        EXPECT_EQ(error_code(row.o), row.code);
        EXPECT_EQ(http_status(row.o), row.status);
    }
}

TEST(Outcome, Bodies) {
    DenialDetails d;
    d.required_scope = "write:all";
    EXPECT_EQ(denial_body(Outcome::kForbidden, d),
              "{\"error\":\"insufficient_scope\",\"message\":\"The API key lacks the scope "
              "\\\"write:all\\\" that this request requires.\",\"required_scope\":\"write:all\"}\n");
    d.retry_after = 2;
    EXPECT_NE(denial_body(Outcome::kLimited, d).find("\"retry_after\":2"), std::string::npos);
    d.expired_at = 0;
    EXPECT_NE(denial_body(Outcome::kExpired, d).find("1970-01-01T00:00:00Z"), std::string::npos);
}

TEST(Outcome, FixedBodiesMatchTheBuiltOnes) {
    for (Outcome o : {Outcome::kMissing, Outcome::kMalformed, Outcome::kAmbiguous,
                      Outcome::kInvalid, Outcome::kRevoked, Outcome::kError, Outcome::kInsecure}) {
        EXPECT_EQ(fixed_denial_body(o), denial_body(o, {}));
    }
    for (Outcome o : {Outcome::kOk, Outcome::kExpired, Outcome::kForbidden, Outcome::kLimited}) {
        EXPECT_TRUE(fixed_denial_body(o).empty());
    }
}

TEST(Outcome, OfEachVerdict) {
    // the one map from a verdict, the script's or a cache hit's
    struct { Verdict v; Outcome o; } table[] = {
        {Verdict::kOk, Outcome::kOk},
        {Verdict::kLimited, Outcome::kLimited},
        {Verdict::kForbidden, Outcome::kForbidden},
        {Verdict::kInvalid, Outcome::kInvalid},
        {Verdict::kRevoked, Outcome::kRevoked},
        {Verdict::kExpired, Outcome::kExpired},
        {Verdict::kLate, Outcome::kError},
    };
    for (auto [v, o] : table) {
        EXPECT_EQ(outcome_of(v), o) << static_cast<int>(v);
    }
}
