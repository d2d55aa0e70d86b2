#include "text.hpp"

#include <cstdint>
#include <cstdio>

#include "json.hpp"

namespace apikey {

namespace {

// The code point of the valid UTF-8 sequence of `len` bytes at s[i].
std::uint32_t code_point(std::string_view s, std::size_t i, std::size_t len) noexcept {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    switch (len) {
    case 2: return (b(0) & 0x1Fu) << 6 | (b(1) & 0x3Fu);
    case 3: return (b(0) & 0x0Fu) << 12 | (b(1) & 0x3Fu) << 6 | (b(2) & 0x3Fu);
    default:
        return (b(0) & 0x07u) << 18 | (b(1) & 0x3Fu) << 12 | (b(2) & 0x3Fu) << 6 | (b(3) & 0x3Fu);
    }
}

bool is_c1(std::uint32_t cp) noexcept { return cp >= 0x80 && cp <= 0x9F; }

// Unicode's explicit directional formatting characters (UAX #9 section 2):
// U+202E turns "exe.txt" into what reads as "txt.exe".
bool is_bidi_control(std::uint32_t cp) noexcept {
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

std::string hex(std::uint32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

}  // namespace

std::string text_problem(std::string_view s, bool allow_c0) {
    for (std::size_t i = 0; i < s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if ((c < 0x20 || c == 0x7F) && !allow_c0) {
                return "a control character (" + hex(c) + ")";
            }
            continue;
        }
        std::size_t len = utf8_sequence(s, i);
        if (len == 0) return "invalid UTF-8 (byte " + std::to_string(i + 1) + ")";
        std::uint32_t cp = code_point(s, i, len);
        if (is_c1(cp)) return "a C1 control character (" + hex(cp) + ")";
        if (is_bidi_control(cp)) return "a bidirectional control character (" + hex(cp) + ")";
        i += len - 1;
    }
    return {};
}

std::size_t utf8_length(std::string_view s) noexcept {
    std::size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) != 0x80) n++;
    }
    return n;
}

std::string reason_problem(std::string_view reason) {
    // characters (code points), as the OpenAPI schema's maxLength counts them
    if (utf8_length(reason) > kMaxReasonLength) return "too long (at most 1024 characters)";
    return text_problem(reason, true);
}

std::string terminal_safe(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    auto byte = [&](unsigned char c) {
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    };
    for (std::size_t i = 0; i < s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case 0x1B: out += "\\e"; break;
            default:
                if (c < 0x20 || c == 0x7F) byte(c);
                else out.push_back(static_cast<char>(c));
            }
            continue;
        }
        std::size_t len = utf8_sequence(s, i);
        if (len == 0) {
            byte(c);
            continue;
        }
        std::uint32_t cp = code_point(s, i, len);
        if (is_c1(cp) || is_bidi_control(cp)) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\u{%04x}", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.append(s.substr(i, len));
        }
        i += len - 1;
    }
    return out;
}

bool valid_owner(std::string_view owner) noexcept {
    if (owner.empty() || owner.size() > 128) return false;
    for (char c : owner) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool valid_group_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    for (std::size_t i = 0; i < name.size(); i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
    }
    return true;
}

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); i++) {
        if (plus_is_space && in[i] == '+') {
            out.push_back(' ');
        } else if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;   // two hex digits must follow
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

}  // namespace apikey
