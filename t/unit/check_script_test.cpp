#include <gtest/gtest.h>

#include <array>
#include <string>

#include "check_script.hpp"
#include "digest.hpp"

using namespace apikey;

// The script's arguments are a contract between a module version and the
// script text built into it: the module calls the script only by the SHA-1 of
// that text. v2 inserted the deadline as ARGV[6], where v1 read the first
// bucket spec; v3 (issue 14) inserted the prefix, the environment and the
// client address as ARGV[7..9], where v2 read bucket specs, and answers with a
// longer head. A module must never find another version under the SHA it calls.
TEST(CheckScript, ANewArgumentListIsANewSha) {
    std::array<char, 40> sha{};
    ASSERT_TRUE(sha1_hex(kCheckScript, sha));
    std::string hex(sha.data(), sha.size());

    // SHA-1 of the v1 script (ARGV[6+]: bucket specs, no deadline)
    EXPECT_NE(hex, "45b1bd2cf12b2612b5f743e16399bd4019c184d9");
    // SHA-1 of the v2 script (ARGV[6]: deadline, ARGV[7+]: bucket specs)
    EXPECT_NE(hex, "6f7d48b5a9232d9260aa5f876e4c95c09f4cde1e");
    // SHA-1 of the v3 script (the key model: ARGV[8] environment, ARGV[9] address)
    EXPECT_NE(hex, "994a59934e5c3adee1e4afe295632964cde8e57c");
    // SHA-1 of the v4 script (the batch; no quota key, quota spec or cost)
    EXPECT_NE(hex, "5135d7181b191dabeef4bae961b00584502d3257");
    EXPECT_EQ(kCheckScript.rfind("-- apikey check v5\n", 0), 0u) << "the version is the first line";
    EXPECT_NE(kCheckScript.find("local deadline = tonumber(ARGV[6])"), std::string_view::npos);
    EXPECT_NE(kCheckScript.find("local spec = argv[8 + i]"), std::string_view::npos)
        << "bucket set i (from 2) after the deadline, prefix, environment and address";
    EXPECT_NE(kCheckScript.find("if ARGV[1] == \"batch\" then"), std::string_view::npos)
        << "v4: several checks in one call";
    EXPECT_NE(kCheckScript.find("for i = 2, #argv - 10 do"), std::string_view::npos)
        << "v5: the quota counts' hash is the last key, after the bucket sets";
    EXPECT_NE(kCheckScript.find("argv[10 + nsets]"), std::string_view::npos)
        << "v5: the location's quotas, then the cost, after the bucket specs";
}
