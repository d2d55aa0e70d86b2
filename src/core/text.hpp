// The text rules for what people type into a key: names and audit reasons.
// They reach terminals (apikeyctl's tables), browsers (the admin page) and
// logs, so the characters that can make one string look like another, or
// forge a line, are refused on the way in (both the admin API and apikeyctl
// call these) and escaped on the way out to a terminal.
#pragma once

#include <string>
#include <string_view>

namespace apikey {

inline constexpr std::size_t kMaxReasonLength = 1024;

// What is wrong with `s` as a stored text, or "" when nothing is: invalid
// UTF-8, a C1 control (U+0080..U+009F), a bidirectional control (U+061C,
// U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and, unless
// `allow_c0` (reasons, which may span lines), a C0 control or DEL.
std::string text_problem(std::string_view s, bool allow_c0);

// Characters (Unicode code points) in UTF-8 text, as JSON Schema's maxLength
// counts them: the bytes that are not continuation bytes.
std::size_t utf8_length(std::string_view s) noexcept;

// A reason as the audit stream keeps it: at most kMaxReasonLength characters,
// text_problem(reason, true) empty. Returns the problem, "" when fine.
std::string reason_problem(std::string_view reason);

// `s` made safe for a terminal, one line: every C0 control, DEL, C1 control
// and bidirectional control is written as an escape (\n, \r, \t, \e, \xNN,
// \u{NNNN}), a byte that is not UTF-8 as \xNN, and a backslash as \\, so an
// escape in the output can only have come from the escaping.
std::string terminal_safe(std::string_view s);

// Owners: 1-128 bytes of [A-Za-z0-9_.:@-]. Role and plan names:
// [a-z0-9][a-z0-9_.-]{0,63}. The admin API and apikeyctl check what they
// write with these, and decode_record what it reads back.
bool valid_owner(std::string_view owner) noexcept;
bool valid_group_name(std::string_view name) noexcept;

// %XX escapes decoded into `out` (RFC 3986, 2.1), either case of hex digit;
// with `plus_is_space` also '+' as a space (application/x-www-form-urlencoded).
// False on a '%' not followed by two hex digits.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace apikey
