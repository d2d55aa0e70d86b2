#include <gtest/gtest.h>

#include <string>

#include "mint.hpp"
#include "token.hpp"

using namespace apikey;

TEST(Crc32, MatchesZlibVectors) {
    EXPECT_EQ(crc32(""), 0u);
    EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
    EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

TEST(Token, MintedTokensParseAsOurs) {
    for (int i = 0; i < 200; i++) {
        auto id = mint_id();
        ASSERT_TRUE(id);
        auto token = mint_token(*id);
        ASSERT_TRUE(token);
        EXPECT_EQ(token->size(), kTokenLength);
        EXPECT_EQ(token->rfind("ak_live_", 0), 0u) << "live is the default";
        ParsedToken p = parse_token(*token);
        ASSERT_EQ(p.shape, TokenShape::kProject) << *token;
        EXPECT_EQ(p.id, *id);
        EXPECT_EQ(p.env, KeyEnv::kLive);
    }
}

TEST(Token, TestTokensSayTest) {
    auto token = mint_token("abcdefghijkl", KeyEnv::kTest);
    ASSERT_TRUE(token);
    EXPECT_EQ(token->size(), kTokenLength);
    EXPECT_EQ(token->rfind("ak_test_abcdefghijkl_", 0), 0u);
    ParsedToken p = parse_token(*token);
    ASSERT_EQ(p.shape, TokenShape::kProject);
    EXPECT_EQ(p.id, "abcdefghijkl");
    EXPECT_EQ(p.env, KeyEnv::kTest);
    // nothing mints the old format any more
    auto live = mint_token("abcdefghijkl", KeyEnv::kUnknown);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->rfind("ak_live_", 0), 0u);
}

// Tokens minted before environments existed keep working: their shape is
// ours, their id is found, and their environment is left to the record.
TEST(Token, OldFormatStillParses) {
    std::string old = assemble_token("abc123def456", std::string(40, 'Q'), KeyEnv::kUnknown);
    ASSERT_EQ(old.size(), kLegacyTokenLength);
    EXPECT_EQ(old.rfind("ak_abc123def456_", 0), 0u);
    ParsedToken p = parse_token(old);
    ASSERT_EQ(p.shape, TokenShape::kProject);
    EXPECT_EQ(p.id, "abc123def456");
    EXPECT_EQ(p.env, KeyEnv::kUnknown);
}

// A fixed token of each shape (checks computed apart, with Python's zlib.crc32): the format is an interface
// (tokens live in customers' configurations), so it must never drift.
TEST(Token, KnownTokens) {
    std::string secret = "0123456789ABCDEFGHIJabcdefghijKLMNOPQRST";
    EXPECT_EQ(assemble_token("abc123def456", secret, KeyEnv::kUnknown),
              "ak_abc123def456_" + secret + "1533mc");
    EXPECT_EQ(assemble_token("abc123def456", secret, KeyEnv::kLive),
              "ak_live_abc123def456_" + secret + "1mtg4d");
    EXPECT_EQ(assemble_token("abc123def456", secret, KeyEnv::kTest),
              "ak_test_abc123def456_" + secret + "2c6kTy");
}

// Moving a token from test to live (or to the old format) by editing its
// prefix breaks its checksum: the environment is part of what is checked.
TEST(Token, EnvironmentIsChecksummed) {
    std::string secret(40, 'Z');
    std::string test = assemble_token("abc123def456", secret, KeyEnv::kTest);
    ASSERT_EQ(parse_token(test).shape, TokenShape::kProject);
    std::string moved = "ak_live_" + test.substr(kTestPrefix.size());
    EXPECT_EQ(parse_token(moved).shape, TokenShape::kMalformed);
    std::string old = "ak_" + test.substr(kTestPrefix.size());
    EXPECT_EQ(parse_token(old).shape, TokenShape::kMalformed);
    std::string other = "ak_prod_" + test.substr(kTestPrefix.size());
    EXPECT_EQ(parse_token(other).shape, TokenShape::kMalformed);
}

TEST(Token, EnvNames) {
    EXPECT_EQ(key_env_name(KeyEnv::kLive), "live");
    EXPECT_EQ(key_env_name(KeyEnv::kTest), "test");
    EXPECT_EQ(key_env_name(KeyEnv::kUnknown), "");
    EXPECT_EQ(parse_key_env("live"), KeyEnv::kLive);
    EXPECT_EQ(parse_key_env("test"), KeyEnv::kTest);
    EXPECT_EQ(parse_key_env("Live"), KeyEnv::kUnknown);
    EXPECT_EQ(parse_key_env(""), KeyEnv::kUnknown);
}

TEST(Token, MintedTokensDiffer) {
    auto a = mint_token("abcdefghijkl"), b = mint_token("abcdefghijkl");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
}

TEST(Token, EverySingleCharacterTypoIsCaught) {
    for (KeyEnv env : {KeyEnv::kLive, KeyEnv::kTest, KeyEnv::kUnknown}) {
        std::string token = assemble_token("abc123def456", std::string(40, 'Q'), env);
        ASSERT_EQ(parse_token(token).shape, TokenShape::kProject);
        const std::string alphabet =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
        for (std::size_t i = 3; i < token.size(); i++) {
            for (char c : alphabet) {
                if (c == token[i]) continue;
                std::string typo = token;
                typo[i] = c;
                EXPECT_NE(parse_token(typo).shape, TokenShape::kProject) << typo;
            }
        }
    }
}

struct ShapeCase {
    std::string token;
    TokenShape shape;
};

std::ostream& operator<<(std::ostream& os, const ShapeCase& c) {
    return os << "token of " << c.token.size() << " bytes";
}

class TokenShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(TokenShapes, Classifies) { EXPECT_EQ(parse_token(GetParam().token).shape, GetParam().shape); }

INSTANTIATE_TEST_SUITE_P(
    Table, TokenShapes,
    ::testing::Values(
        ShapeCase{"", TokenShape::kMalformed},
        ShapeCase{"ak_", TokenShape::kMalformed},
        ShapeCase{"ak_abc", TokenShape::kMalformed},
        ShapeCase{"legacy-token_123", TokenShape::kForeign},
        ShapeCase{"abc/def+ghi==", TokenShape::kForeign},
        ShapeCase{"a=b", TokenShape::kMalformed},       // '=' only as padding at the end
        ShapeCase{"has space", TokenShape::kMalformed},
        ShapeCase{"tab\there", TokenShape::kMalformed},
        ShapeCase{std::string("nul\0byte", 8), TokenShape::kMalformed},
        ShapeCase{"caf\xc3\xa9", TokenShape::kMalformed},
        ShapeCase{"quote\"", TokenShape::kMalformed},
        ShapeCase{std::string(513, 'a'), TokenShape::kMalformed},
        ShapeCase{std::string(512, 'a'), TokenShape::kForeign},
        // our prefix, right length, upper-case id: not ours, and not foreign either
        ShapeCase{"ak_ABCDEFGHIJKL_" + std::string(46, 'a'), TokenShape::kMalformed},
        // the new length with a prefix that is neither live nor test
        ShapeCase{"ak_prod_abcdefghijkl_" + std::string(46, 'a'), TokenShape::kMalformed},
        ShapeCase{"ak_live_abcdefghijkl" + std::string(47, 'a'), TokenShape::kMalformed},
        // one character short or long of either shape
        ShapeCase{"ak_live_abcdefghijkl_" + std::string(45, 'a'), TokenShape::kMalformed},
        ShapeCase{"ak_live_abcdefghijkl_" + std::string(47, 'a'), TokenShape::kMalformed}));

TEST(Token, Hint) {
    EXPECT_EQ(token_hint("abcdefgh"), "efgh");
    EXPECT_EQ(token_hint("abc"), "abc");
}

TEST(Token, KeyIds) {
    EXPECT_TRUE(valid_key_id("0123456789az"));
    EXPECT_FALSE(valid_key_id("0123456789aZ"));
    EXPECT_FALSE(valid_key_id("0123456789a"));
    EXPECT_FALSE(valid_key_id("0123456789a-"));
}
