#include <gtest/gtest.h>

#include "admin.hpp"
#include "record.hpp"
#include "text.hpp"

using namespace apikey;

namespace {

struct Case {
    const char* what;
    std::string text;
    bool name_ok;     // as a key name
    bool reason_ok;   // as an audit reason
};

const Case kCases[] = {
    {"plain", "billing export", true, true},
    {"accents and CJK", "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac", true, true},
    {"emoji (4-byte UTF-8)", "\xf0\x9f\x94\x91 key", true, true},
    {"zero width joiner is not bidi", "a\xe2\x80\x8d" "b", true, true},
    {"LF", "a\nb", false, true},
    {"CR", "a\rb", false, true},
    {"ESC sequence", "\x1b[31mred", false, true},
    {"DEL", "a\x7f", false, true},
    {"C1 NEL U+0085", "a\xc2\x85" "b", false, false},
    {"C1 CSI U+009B", "\xc2\x9b" "31m", false, false},
    {"C1 U+0080", "\xc2\x80", false, false},
    {"U+00A0 is not C1", "a\xc2\xa0" "b", true, true},
    {"ALM U+061C", "\xd8\x9c", false, false},
    {"LRM U+200E", "\xe2\x80\x8e", false, false},
    {"RLM U+200F", "\xe2\x80\x8f", false, false},
    {"LRE U+202A", "\xe2\x80\xaa", false, false},
    {"RLO U+202E", "invoice\xe2\x80\xaetxt.exe", false, false},
    {"LRI U+2066", "\xe2\x81\xa6", false, false},
    {"PDI U+2069", "\xe2\x81\xa9", false, false},
    {"U+2065 is not bidi", "\xe2\x81\xa5", true, true},
    {"U+206A is not bidi", "\xe2\x81\xaa", true, true},
    {"U+2029 paragraph separator is not in the list", "\xe2\x80\xa9", true, true},
    {"lone continuation byte", "a\x80", false, false},
    {"Latin-1 byte", "caf\xe9", false, false},
    {"truncated sequence", "\xe2\x80", false, false},
    {"overlong slash", "\xc0\xaf", false, false},
    {"surrogate", "\xed\xa0\x80", false, false},
    {"above U+10FFFF", "\xf4\x90\x80\x80", false, false},
};

TEST(Text, NamesAndReasons) {
    for (const auto& c : kCases) {
        EXPECT_EQ(valid_key_name(c.text), c.name_ok) << c.what;
        EXPECT_EQ(name_problem(c.text).empty(), c.name_ok) << c.what;
        EXPECT_EQ(reason_problem(c.text).empty(), c.reason_ok) << c.what;
    }
}

TEST(Text, ProblemsSayWhat) {
    EXPECT_EQ(text_problem("a\xe2\x80\xae", false), "a bidirectional control character (U+202E)");
    EXPECT_EQ(text_problem("\xc2\x85", true), "a C1 control character (U+0085)");
    EXPECT_EQ(text_problem("ab\xff", true), "invalid UTF-8 (byte 3)");
    EXPECT_EQ(text_problem("a\x1b", false), "a control character (U+001B)");
    EXPECT_EQ(text_problem("a\x1b", true), "");
    EXPECT_EQ(name_problem(""), "empty");
    EXPECT_EQ(name_problem(std::string(129, 'a')), "too long (at most 128 characters)");
    EXPECT_EQ(reason_problem(std::string(1025, 'a')), "too long (at most 1024 characters)");
    // characters, not bytes: as the OpenAPI schema's maxLength counts
    std::string e128, e1024;
    for (int i = 0; i < 128; i++) e128 += "\xc3\xa9";
    for (int i = 0; i < 1024; i++) e1024 += "\xc3\xa9";
    EXPECT_EQ(name_problem(e128), "");
    EXPECT_EQ(reason_problem(e1024), "");
    EXPECT_EQ(name_problem(e128 + "a"), "too long (at most 128 characters)");
    EXPECT_EQ(reason_problem(std::string(1024, 'a')), "");
}

TEST(Text, TerminalSafe) {
    struct { std::string in, out; } cases[] = {
        {"plain text", "plain text"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"a\r\nb\tc", "a\\r\\nb\\tc"},
        {"\x1b[2J\x1b[1;1Hforged", "\\e[2J\\e[1;1Hforged"},
        {std::string("nul\0x", 5), "nul\\x00x"},
        {"bell\x07", "bell\\x07"},
        {"del\x7f", "del\\x7f"},
        {"back\\slash", "back\\\\slash"},
        {"\xc2\x9b" "31m", "\\u{009b}31m"},
        {"\xc2\x85", "\\u{0085}"},
        {"x\xe2\x80\xaey", "x\\u{202e}y"},
        {"\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f\xe2\x81\xa6\xe2\x81\xa9",
         "\\u{061c}\\u{200e}\\u{200f}\\u{2066}\\u{2069}"},
        {"bad\xff\xc3", "bad\\xff\\xc3"},
        {"\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91"},
    };
    for (const auto& c : cases) EXPECT_EQ(terminal_safe(c.in), c.out) << c.in;
}

// The admin API's body validation uses the same rule.
TEST(Text, AdminBodies) {
    KeyChanges out;
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, R"({"name":"a\u202eb"})", out), "");
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, R"({"name":"a\u0085b"})", out), "");
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, R"({"name":"ok","reason":"x\u202e"})", out),
              "");
    EXPECT_NE(parse_key_changes(AdminRoute::kRevoke, R"({"reason":"x\u009b1m"})", out), "");
    EXPECT_EQ(parse_key_changes(AdminRoute::kRevoke, R"({"reason":"line one\nline two"})", out),
              "");
    EXPECT_EQ(parse_key_changes(AdminRoute::kCreate, R"({"name":"caf\u00e9"})", out), "");
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, R"({"name":"a\u202eb"})", out)
                  .find("U+202E"),
              std::string::npos);
}

}  // namespace
