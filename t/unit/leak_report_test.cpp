#include <gtest/gtest.h>

#include "leak_report.hpp"

using namespace apikey;

// The program's documented example (secret-scanning-partner-program.md)
TEST(LeakReport, DocumentedExample) {
    std::vector<LeakMatch> m;
    EXPECT_EQ(parse_leak_report(
                  R"([{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}])",
                  m),
              "");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].token, "some_token");
    EXPECT_EQ(m[0].type, "some_type");
    EXPECT_EQ(m[0].url, "https://example.com/base-repo-url/");
    EXPECT_EQ(m[0].source, "commit");
}

TEST(LeakReport, OptionalFieldsAndUnknownMembers) {
    std::vector<LeakMatch> m;
    EXPECT_EQ(parse_leak_report(R"([{"token":"a"},{"token":"b","url":null,"extra":[1]}])", m), "");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].url, "");
    EXPECT_EQ(m[1].token, "b");
    EXPECT_EQ(parse_leak_report("[]", m), "");
    EXPECT_TRUE(m.empty());
}

struct BadReport {
    const char* body;
    const char* why;
};

void PrintTo(const BadReport& c, std::ostream* os) { *os << c.body; }

class LeakReportBad : public ::testing::TestWithParam<BadReport> {};

TEST_P(LeakReportBad, IsRefusedWithAReason) {
    std::vector<LeakMatch> m;
    std::string error = parse_leak_report(GetParam().body, m);
    EXPECT_NE(error.find(GetParam().why), std::string::npos) << error;
    EXPECT_TRUE(m.empty());
}

INSTANTIATE_TEST_SUITE_P(Cases, LeakReportBad, ::testing::Values(
    BadReport{"", "not JSON"},
    BadReport{"[{\"token\":\"a\"},]", "not JSON"},
    BadReport{"{\"token\":\"a\"}", "not a JSON array"},
    BadReport{"[1]", "match 0 is not an object"},
    BadReport{"[{\"token\":\"a\"},{\"type\":\"t\"}]", "match 1 has no string \"token\""},
    BadReport{"[{\"token\":5}]", "match 0 has no string \"token\""},
    BadReport{"[{\"token\":\"a\",\"url\":1}]", "\"url\" is not a string"},
    BadReport{"[{\"token\":\"a\",\"type\":true}]", "\"type\" is not a string"},
    BadReport{"[{\"token\":\"a\",\"source\":{}}]", "\"source\" is not a string"}),
    [](const ::testing::TestParamInfo<BadReport>& info) {
        return "Case" + std::to_string(info.index);
    });

TEST(LeakReport, Bounds) {
    std::vector<LeakMatch> m;
    std::string many = "[";
    for (std::size_t i = 0; i <= kMaxLeakMatches; i++) many += i ? ",{\"token\":\"a\"}" : "{\"token\":\"a\"}";
    many += "]";
    EXPECT_NE(parse_leak_report(many, m).find("more than 1000 matches"), std::string::npos);
    std::string huge(kMaxLeakReportBody + 1, ' ');
    EXPECT_EQ(parse_leak_report(huge, m), "the report is larger than 1 MiB");
}

TEST(LeakReport, TheErrorNeverQuotesAToken) {
    std::vector<LeakMatch> m;
    std::string error = parse_leak_report(R"([{"token":"ak_live_secret","url":7}])", m);
    EXPECT_EQ(error.find("ak_live_secret"), std::string::npos);
}

constexpr const char* kPem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";

TEST(LeakKeys, GithubsDocument) {
    std::vector<LeakPublicKey> k;
    std::string doc = std::string(R"({"public_keys":[{"key_identifier":"90a4","key":")")
                      + "-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n"
                      + R"(","is_current":false},{"key_identifier":"bcb5","key":")"
                      + "-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n"
                      + R"(","is_current":true}]})";
    ASSERT_EQ(parse_leak_keys(doc, k), "");
    ASSERT_EQ(k.size(), 2u);
    EXPECT_EQ(k[0].identifier, "90a4");
    EXPECT_FALSE(k[0].current);
    EXPECT_EQ(k[1].identifier, "bcb5");
    EXPECT_TRUE(k[1].current);
    EXPECT_EQ(k[1].pem, kPem);
}

TEST(LeakKeys, Refused) {
    std::vector<LeakPublicKey> k;
    std::string pem = "\"-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n\"";
    EXPECT_NE(parse_leak_keys("nope", k).find("not JSON"), std::string::npos);
    EXPECT_EQ(parse_leak_keys("[]", k), "no \"public_keys\" array");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":{}})", k), "no \"public_keys\" array");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":[]})", k), "\"public_keys\" is empty");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":[{"key":)" + pem + "}]}", k),
              "public key 0 has no \"key_identifier\"");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":[{"key_identifier":"a","key":"MFkw"}]})", k),
              "public key 0 has no PEM \"key\"");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":[{"key_identifier":"a","key":)" + pem
                                  + R"(,"is_current":"yes"}]})", k),
              "public key 0: \"is_current\" is not true or false");
    EXPECT_EQ(parse_leak_keys(R"({"public_keys":[{"key_identifier":"a","key":)" + pem
                                  + R"(},{"key_identifier":"a","key":)" + pem + "}]}", k),
              "public key 1 repeats the identifier \"a\"");
}

// The hashed form of the program's feedback: token_hash, token_type, label
TEST(LeakFeedback, DocumentedFormat) {
    EXPECT_EQ(leak_feedback({}), "[]");
    EXPECT_EQ(leak_feedback({{"ab12", "apikey_token", true}, {"cd34", "apikey_token", false}}),
              R"([{"token_hash":"ab12","token_type":"apikey_token","label":"true_positive"},)"
              R"({"token_hash":"cd34","token_type":"apikey_token","label":"false_positive"}])");
    // a type is echoed as JSON, whatever it holds
    EXPECT_EQ(leak_feedback({{"ab", "a\"b", false}}),
              R"([{"token_hash":"ab","token_type":"a\"b","label":"false_positive"}])");
}

TEST(LeakAction, Names) {
    LeakAction a = LeakAction::kFlag;
    ASSERT_TRUE(parse_leak_action("revoke", a));
    EXPECT_EQ(a, LeakAction::kRevoke);
    ASSERT_TRUE(parse_leak_action("disable", a));
    EXPECT_EQ(a, LeakAction::kDisable);
    ASSERT_TRUE(parse_leak_action("flag", a));
    EXPECT_EQ(a, LeakAction::kFlag);
    EXPECT_FALSE(parse_leak_action("burn", a));
    EXPECT_FALSE(parse_leak_action("", a));
    EXPECT_EQ(leak_action_name(LeakAction::kDisable), "disable");
    EXPECT_EQ(leak_action_name(LeakAction::kFlag), "flag");
    EXPECT_EQ(leak_action_name(LeakAction::kRevoke), "revoke");
}
