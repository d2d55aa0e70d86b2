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
        EXPECT_EQ(token->rfind("ak_", 0), 0u);
        ParsedToken p = parse_token(*token);
        ASSERT_EQ(p.shape, TokenShape::kProject) << *token;
        EXPECT_EQ(p.id, *id);
    }
}

TEST(Token, MintedTokensDiffer) {
    auto a = mint_token("abcdefghijkl"), b = mint_token("abcdefghijkl");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
}

TEST(Token, EverySingleCharacterTypoIsCaught) {
    std::string token = assemble_token("abc123def456", std::string(40, 'Q'));
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
        ShapeCase{"ak_ABCDEFGHIJKL_" + std::string(46, 'a'), TokenShape::kMalformed}));

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
