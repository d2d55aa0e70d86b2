#include <gtest/gtest.h>

#include <string>

#include "meta.hpp"

using namespace apikey;

// The request path's reader (valid_meta_json) and the strict one
// (parse_meta) agree on every case.
struct MetaCase {
    std::string json;
    bool valid;
};

std::ostream& operator<<(std::ostream& os, const MetaCase& c) { return os << c.json.substr(0, 60); }

class MetaTexts : public ::testing::TestWithParam<MetaCase> {};

TEST_P(MetaTexts, BothReadersAgree) {
    std::string error;
    EXPECT_EQ(valid_meta_json(GetParam().json), GetParam().valid);
    EXPECT_EQ(parse_meta(GetParam().json, error).has_value(), GetParam().valid) << error;
}

std::string many(int n) {
    std::string s = "{";
    for (int i = 0; i < n; i++) {
        if (i) s += ",";
        s += "\"k" + std::to_string(i) + "\":\"v\"";
    }
    return s + "}";
}

INSTANTIATE_TEST_SUITE_P(
    Table, MetaTexts,
    ::testing::Values(
        MetaCase{"", true},
        MetaCase{"{}", true},
        MetaCase{"{\"tenant\":\"t-42\"}", true},
        MetaCase{" { \"a\" : \"1\" , \"b_2\" : \"\" } ", true},
        MetaCase{"{\"city\":\"Z\\u00fcrich\"}", true},
        MetaCase{"{\"emoji\":\"\\ud83d\\ude00\"}", true},
        MetaCase{"{\"q\":\"say \\\"hi\\\" \\/ \\\\\"}", true},
        MetaCase{"{\"v\":\"" + std::string(256, 'x') + "\"}", true},
        MetaCase{many(16), true},
        MetaCase{many(17), false},
        MetaCase{"{\"v\":\"" + std::string(257, 'x') + "\"}", false},
        MetaCase{"{\"" + std::string(33, 'a') + "\":\"x\"}", false},
        MetaCase{"{\"" + std::string(32, 'a') + "\":\"x\"}", true},
        MetaCase{"{\"Tenant\":\"x\"}", false},
        MetaCase{"{\"te-nant\":\"x\"}", false},
        MetaCase{"{\"\":\"x\"}", false},
        MetaCase{"{\"a\":\"x\",\"a\":\"y\"}", false},
        MetaCase{"{\"a\":1}", false},
        MetaCase{"{\"a\":null}", false},
        MetaCase{"{\"a\":{\"b\":\"c\"}}", false},
        MetaCase{"[\"a\"]", false},
        MetaCase{"\"a\"", false},
        MetaCase{"{\"a\":\"x\",}", false},
        MetaCase{"{\"a\":\"x\"} x", false},
        MetaCase{"{\"a\":\"line\\nbreak\"}", false},
        MetaCase{"{\"a\":\"tab\\tx\"}", false},
        MetaCase{"{\"a\":\"\\u0000\"}", false},
        MetaCase{"{\"a\":\"\\ud83d\"}", false},
        MetaCase{"{\"a\":\"\\ude00\"}", false},
        MetaCase{"{\"a\":\"\\u202e\"}", false},          // a bidirectional control
        MetaCase{"{\"a\":\"\xff\"}", false},              // not UTF-8
        MetaCase{"{\"a\":\"\\x\"}", false},
        MetaCase{"{\"a\":\"x\"", false}));

TEST(Meta, ValueLookup) {
    std::string json = "{\"tenant\":\"t-42\",\"city\":\"Z\\u00fcrich\",\"e\":\"\"}";
    char buf[kMaxMetaValue];
    auto n = meta_value(json, "tenant", buf, sizeof(buf));
    ASSERT_TRUE(n);
    EXPECT_EQ(std::string(buf, *n), "t-42");
    n = meta_value(json, "city", buf, sizeof(buf));
    ASSERT_TRUE(n);
    EXPECT_EQ(std::string(buf, *n), "Z\xc3\xbcrich");
    n = meta_value(json, "e", buf, sizeof(buf));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u);
    EXPECT_FALSE(meta_value(json, "nope", buf, sizeof(buf)));
    EXPECT_FALSE(meta_value("", "tenant", buf, sizeof(buf)));
    EXPECT_FALSE(meta_value("{\"tenant\":\"x\"}", "tenan", buf, sizeof(buf)));
}
