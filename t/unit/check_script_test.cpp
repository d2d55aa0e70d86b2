#include <gtest/gtest.h>

#include <array>
#include <string>

#include "check_script.hpp"
#include "digest.hpp"

using namespace apikey;

// The script's arguments are a contract between a module version and the
// script text built into it: the module calls the script only by the SHA-1 of
// that text. v2 inserted the deadline as ARGV[6], where v1 read the first
// bucket spec; a v2 module must never find v1 under the SHA it calls.
TEST(CheckScript, ANewArgumentListIsANewSha) {
    std::array<char, 40> sha{};
    ASSERT_TRUE(sha1_hex(kCheckScript, sha));
    std::string hex(sha.data(), sha.size());

    // SHA-1 of the v1 script (ARGV[6+]: bucket specs, no deadline)
    EXPECT_NE(hex, "45b1bd2cf12b2612b5f743e16399bd4019c184d9");
    EXPECT_EQ(kCheckScript.rfind("-- apikey check v2\n", 0), 0u) << "the version is the first line";
    EXPECT_NE(kCheckScript.find("local deadline = tonumber(ARGV[6])"), std::string_view::npos);
    EXPECT_NE(kCheckScript.find("local spec = ARGV[5 + i]"), std::string_view::npos)
        << "bucket set i (from 2) after the deadline";
}
