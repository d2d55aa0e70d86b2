#include <gtest/gtest.h>

#include "json.hpp"

using namespace apikey;

TEST(Json, Escapes) {
    std::string out;
    append_json_string(out, std::string("a\"b\\c\n\x01\x7f", 8));
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
}

TEST(Json, KeepsValidUtf8AndReplacesInvalid) {
    std::string out;
    append_json_string(out, "caf\xc3\xa9 \xf0\x9f\x94\x91");
    EXPECT_EQ(out, "\"caf\xc3\xa9 \xf0\x9f\x94\x91\"");
    out.clear();
    append_json_string(out, "\xc3 \xff \xed\xa0\x80");  // truncated, invalid, surrogate
    EXPECT_EQ(out, "\"\\ufffd \\ufffd \\ufffd\\ufffd\\ufffd\"");
}

TEST(Json, Object) {
    JsonObject o;
    o.field("a", "x").field("n", std::int64_t{3}).field("b", true).null_field("z");
    EXPECT_EQ(o.str(), "{\"a\":\"x\",\"n\":3,\"b\":true,\"z\":null}");
}
