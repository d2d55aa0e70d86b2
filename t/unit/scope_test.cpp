#include <gtest/gtest.h>

#include "scope.hpp"

using namespace apikey;

TEST(Scope, Validity) {
    EXPECT_TRUE(valid_scope("read:all"));
    EXPECT_TRUE(valid_scope("a!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"));
    EXPECT_FALSE(valid_scope(""));
    EXPECT_FALSE(valid_scope("a b"));
    EXPECT_FALSE(valid_scope("a\"b"));
    EXPECT_FALSE(valid_scope("a\\b"));
    EXPECT_FALSE(valid_scope("caf\xc3\xa9"));
    EXPECT_FALSE(valid_scope(std::string(129, 'a')));
    // reserved: what a method no apikey_scope line names needs
    EXPECT_FALSE(valid_scope(kUnlistedMethodScope));
    EXPECT_FALSE(valid_scope_list("read apikey:unlisted-method"));
    EXPECT_TRUE(valid_scope_list(""));
    EXPECT_TRUE(valid_scope_list("  a  b "));
    EXPECT_FALSE(valid_scope_list("a \"b"));
}

TEST(Scope, Split) {
    auto v = split_scopes("  read  write ");
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], "read");
    EXPECT_EQ(v[1], "write");
    EXPECT_TRUE(split_scopes("").empty());
}

struct ScopeCase {
    const char* held;
    const char* required;
    const char* super;
    bool allowed;
    const char* missing;
};

class ScopeChecks : public ::testing::TestWithParam<ScopeCase> {};

TEST_P(ScopeChecks, Decide) {
    const auto& c = GetParam();
    auto d = check_scopes(c.held, c.required, c.super);
    EXPECT_EQ(d.allowed, c.allowed) << c.held << " / " << c.required;
    EXPECT_EQ(d.missing, c.missing);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ScopeChecks,
    ::testing::Values(ScopeCase{"", "", "", true, ""},
                      ScopeCase{"read", "", "", true, ""},
                      ScopeCase{"read", "read", "", true, ""},
                      ScopeCase{"read", "write", "", false, "write"},
                      ScopeCase{"read write", "write read", "", true, ""},
                      ScopeCase{"read", "read write", "", false, "write"},
                      ScopeCase{"readx", "read", "", false, "read"},   // no prefix matching
                      ScopeCase{"admin", "write", "admin", true, ""},
                      ScopeCase{"admin", "write", "root admin", true, ""},
                      ScopeCase{"read", "write", "admin", false, "write"},
                      ScopeCase{"", "write", "admin", false, "write"},
                      // a method no line names: only a superscope passes
                      ScopeCase{"read write", "apikey:unlisted-method", "", false,
                                "apikey:unlisted-method"},
                      ScopeCase{"read write", "apikey:unlisted-method", "admin", false,
                                "apikey:unlisted-method"},
                      ScopeCase{"read admin", "apikey:unlisted-method", "admin", true, ""}));

TEST(Scope, JoinDeduplicates) {
    EXPECT_EQ(join_scopes({"b", "a", "b"}), "b a");
    EXPECT_EQ(join_scopes({}), "");
}
