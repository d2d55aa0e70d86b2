#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "credential.hpp"

using namespace apikey;

namespace {

struct Case {
    const char* what;
    std::vector<std::pair<std::string, std::string>> headers;
    CredentialStatus status;
    std::string key;
    std::uint8_t carriers;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.what; }

class Credentials : public ::testing::TestWithParam<Case> {};

TEST_P(Credentials, Scan) {
    const Case& c = GetParam();
    CredentialScanner scanner;
    for (const auto& [name, value] : c.headers) {
        scanner.offer(name, value);
    }
    EXPECT_EQ(scanner.status(), c.status);
    if (c.status == CredentialStatus::kFound) {
        EXPECT_EQ(scanner.key(), c.key);
        EXPECT_EQ(scanner.carriers(), c.carriers);
    }
}

constexpr auto F = CredentialStatus::kFound;
constexpr auto M = CredentialStatus::kMissing;
constexpr auto X = CredentialStatus::kMalformed;
constexpr auto A = CredentialStatus::kAmbiguous;

INSTANTIATE_TEST_SUITE_P(
    Table, Credentials,
    ::testing::Values(
        Case{"none", {{"host", "x"}}, M, "", 0},
        Case{"x-api-key", {{"x-api-key", "k1"}}, F, "k1", kHeaderApiKey},
        Case{"x-api-token", {{"x-api-token", "k1"}}, F, "k1", kHeaderApiToken},
        Case{"bearer", {{"authorization", "Bearer k1"}}, F, "k1", kHeaderAuthorization},
        Case{"bearer any case", {{"authorization", "bEaReR k1"}}, F, "k1", kHeaderAuthorization},
        Case{"bearer tab", {{"authorization", "Bearer\tk1"}}, F, "k1", kHeaderAuthorization},
        Case{"bearer spaces", {{"authorization", "  Bearer   k1  "}}, F, "k1", kHeaderAuthorization},
        Case{"trimmed", {{"x-api-key", " \tk1\t "}}, F, "k1", kHeaderApiKey},
        Case{"basic is not a key", {{"authorization", "Basic k1"}}, M, "", 0},
        Case{"bearerk1 is not bearer", {{"authorization", "Bearerk1"}}, M, "", 0},
        Case{"bearer nothing", {{"authorization", "Bearer"}}, M, "", 0},
        Case{"bearer blank", {{"authorization", "Bearer   "}}, M, "", 0},
        Case{"empty value", {{"x-api-key", ""}}, M, "", 0},
        Case{"basic beside a key", {{"authorization", "Basic zz"}, {"x-api-key", "k1"}}, F, "k1",
             kHeaderApiKey},
        Case{"same key twice", {{"x-api-key", "k1"}, {"authorization", "Bearer k1"}}, F, "k1",
             kHeaderApiKey | kHeaderAuthorization},
        Case{"different keys", {{"x-api-key", "k1"}, {"x-api-token", "k2"}}, A, "", 0},
        Case{"repeated header same value", {{"x-api-key", "k1"}, {"x-api-key", "k1"}}, A, "", 0},
        Case{"repeated header one empty", {{"x-api-key", "k1"}, {"x-api-key", ""}}, A, "", 0},
        Case{"embedded space", {{"x-api-key", "k1 k2"}}, X, "", 0},
        Case{"control byte", {{"x-api-key", std::string("k1\x01", 3)}}, X, "", 0},
        Case{"nul byte", {{"x-api-key", std::string("k1\0z", 4)}}, X, "", 0},
        Case{"non-ascii", {{"x-api-key", "k\xc3\xa9"}}, X, "", 0},
        Case{"too long", {{"x-api-key", std::string(513, 'k')}}, X, "", 0},
        Case{"longest allowed", {{"x-api-key", std::string(512, 'k')}}, F, std::string(512, 'k'),
             kHeaderApiKey}));

TEST(Credentials, ThousandRepeatsAreAmbiguous) {
    CredentialScanner scanner;
    for (int i = 0; i < 1000; i++) scanner.offer("x-api-key", "k1");
    EXPECT_EQ(scanner.status(), CredentialStatus::kAmbiguous);
}

TEST(Credentials, HeaderNames) {
    EXPECT_EQ(credential_header("x-api-key"), kHeaderApiKey);
    EXPECT_EQ(credential_header("x-api-token"), kHeaderApiToken);
    EXPECT_EQ(credential_header("authorization"), kHeaderAuthorization);
    EXPECT_EQ(credential_header("x-api-keys"), kHeaderNone);
    EXPECT_EQ(credential_header("proxy-authorization"), kHeaderNone);
}

}  // namespace
