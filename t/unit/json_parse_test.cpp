#include <gtest/gtest.h>

#include "json_parse.hpp"

using namespace apikey;

TEST(JsonParse, Documents) {
    std::string error;
    auto v = parse_json(R"( {"name":"x \u00e9\ud83d\udd11","scopes":["a","b"],"n":-1.5e2,
                             "t":true,"f":false,"z":null,"o":{}} )", error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(v->type, JsonValue::Type::kObject);
    EXPECT_EQ(v->find("name")->string, "x \xc3\xa9\xf0\x9f\x94\x91");
    ASSERT_EQ(v->find("scopes")->array.size(), 2u);
    EXPECT_EQ(v->find("scopes")->array[1].string, "b");
    EXPECT_EQ(v->find("n")->number, -150);
    EXPECT_TRUE(v->find("t")->boolean);
    EXPECT_EQ(v->find("z")->type, JsonValue::Type::kNull);
    EXPECT_EQ(v->find("missing"), nullptr);
}

class BadJson : public ::testing::TestWithParam<std::string> {};

TEST_P(BadJson, IsRefusedWithAReason) {
    std::string error;
    EXPECT_FALSE(parse_json(GetParam(), error)) << GetParam();
    EXPECT_FALSE(error.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadJson,
    ::testing::Values("", "{", "}", "{\"a\":1,}", "[1,]", "{'a':1}", "{\"a\" 1}", "01", "1.",
                      "-", "1e", "\"unterminated", "\"tab\there\"", "\"bad \\x escape\"",
                      "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u12\"",
                      std::string("\"\xc3\x28\""), std::string("\"\xed\xa0\x80\""),
                      std::string("\"\xc0\xaf\""), "{\"a\":1,\"a\":2}", "nul", "truex",
                      "{} {}", "1e999", "/* no */ {}", std::string(20, '[') + std::string(20, ']')));
