#include <gtest/gtest.h>

#include <string>

#include "digest.hpp"

using namespace apikey;

TEST(Digest, Sha256) {
    DigestHex hex;
    ASSERT_TRUE(token_digest("abc", "", hex));
    EXPECT_EQ(std::string(hex.data(), hex.size()),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, HmacSha256) {
    // RFC 4231 test case 2
    DigestHex hex;
    ASSERT_TRUE(token_digest("what do ya want for nothing?", "Jefe", hex));
    EXPECT_EQ(std::string(hex.data(), hex.size()),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Digest, Sha1) {
    std::array<char, 40> hex;
    ASSERT_TRUE(sha1_hex("abc", hex));
    EXPECT_EQ(std::string(hex.data(), hex.size()), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Digest, ImportedKeyIdIsStableAndShaped) {
    std::array<char, kImportedIdLength> a, b, c;
    ASSERT_TRUE(imported_key_id("legacy-token-0123456789", "", a));
    ASSERT_TRUE(imported_key_id("legacy-token-0123456789", "", b));
    ASSERT_TRUE(imported_key_id("legacy-token-0123456789", "pepper-0123456789", c));
    EXPECT_EQ(std::string(a.data(), a.size()), std::string(b.data(), b.size()));
    EXPECT_NE(std::string(a.data(), a.size()), std::string(c.data(), c.size()));
    for (char ch : a) EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'));
}

TEST(Digest, Bytes) {
    DigestHex hex;
    ASSERT_TRUE(token_digest("abc", "", hex));
    unsigned char bytes[32];
    digest_bytes(hex, bytes);
    EXPECT_EQ(bytes[0], 0xba);
    EXPECT_EQ(bytes[1], 0x78);
    EXPECT_EQ(bytes[31], 0xad);
}
