#include "meta.hpp"

#include <cstring>

#include "json_parse.hpp"
#include "text.hpp"

namespace apikey {

namespace {

bool value_ok(std::string_view v) noexcept {
    if (v.size() > kMaxMetaValue) {
        return false;
    }
    try {
        return text_problem(v, false).empty();
    } catch (...) {
        return false;
    }
}

// A cursor over the text, for the non-allocating reader.
struct Cursor {
    std::string_view s;
    std::size_t i = 0;

    void ws() noexcept {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }
    bool eat(char c) noexcept {
        ws();
        if (i < s.size() && s[i] == c) {
            i++;
            return true;
        }
        return false;
    }
};

int hex4(std::string_view s, std::size_t i) noexcept {
    if (i + 4 > s.size()) return -1;
    int v = 0;
    for (std::size_t k = i; k < i + 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

// Reads a JSON string at the cursor into out[0..cap); its decoded length, or
// -1 when it is malformed or longer than cap.
long read_string(Cursor& c, char* out, std::size_t cap) noexcept {
    c.ws();
    if (c.i >= c.s.size() || c.s[c.i] != '"') return -1;
    c.i++;
    std::size_t n = 0;
    auto put = [&](unsigned char b) {
        if (n >= cap) return false;
        out[n++] = static_cast<char>(b);
        return true;
    };
    while (c.i < c.s.size()) {
        unsigned char ch = static_cast<unsigned char>(c.s[c.i++]);
        if (ch == '"') return static_cast<long>(n);
        if (ch < 0x20) return -1;
        if (ch != '\\') {
            if (!put(ch)) return -1;
            continue;
        }
        if (c.i >= c.s.size()) return -1;
        char e = c.s[c.i++];
        unsigned char simple = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/'
                             : e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n'
                             : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
        if (simple) {
            if (!put(simple)) return -1;
            continue;
        }
        if (e != 'u') return -1;
        int u = hex4(c.s, c.i);
        if (u < 0) return -1;
        c.i += 4;
        std::uint32_t cp = static_cast<std::uint32_t>(u);
        if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;   // a lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (c.i + 6 > c.s.size() || c.s[c.i] != '\\' || c.s[c.i + 1] != 'u') return -1;
            int lo = hex4(c.s, c.i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return -1;
            c.i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(lo) - 0xDC00);
        }
        bool ok = cp < 0x80 ? put(static_cast<unsigned char>(cp))
                : cp < 0x800 ? put(0xC0 | cp >> 6) && put(0x80 | (cp & 0x3F))
                : cp < 0x10000 ? put(0xE0 | cp >> 12) && put(0x80 | (cp >> 6 & 0x3F)) &&
                                 put(0x80 | (cp & 0x3F))
                : put(0xF0 | cp >> 18) && put(0x80 | (cp >> 12 & 0x3F)) &&
                  put(0x80 | (cp >> 6 & 0x3F)) && put(0x80 | (cp & 0x3F));
        if (!ok) return -1;
    }
    return -1;
}

// Walks a non-empty text; calls on_member(name, value) for each member after
// checking it. False when the text is not valid metadata.
template <typename F>
bool walk(std::string_view json, F on_member) noexcept {
    if (json.size() > kMaxMetaJson) return false;
    Cursor c{json};
    char names[kMaxMetaEntries][kMaxMetaName];
    std::size_t name_len[kMaxMetaEntries];
    std::size_t count = 0;
    if (!c.eat('{')) return false;
    if (c.eat('}')) {
        c.ws();
        return c.i == json.size();
    }
    for (;;) {
        if (count == kMaxMetaEntries) return false;
        long nl = read_string(c, names[count], kMaxMetaName);
        if (nl < 1 || !valid_meta_name(std::string_view(names[count], nl))) return false;
        for (std::size_t k = 0; k < count; k++) {
            if (name_len[k] == static_cast<std::size_t>(nl) &&
                std::memcmp(names[k], names[count], nl) == 0) {
                return false;
            }
        }
        name_len[count] = static_cast<std::size_t>(nl);
        if (!c.eat(':')) return false;
        std::size_t value_at = c.i;
        char value[kMaxMetaValue];
        long vl = read_string(c, value, kMaxMetaValue);
        if (vl < 0 || !value_ok(std::string_view(value, vl))) return false;
        if (!on_member(std::string_view(names[count], nl), value_at, std::string_view(value, vl))) {
            return true;   // the caller found what it wanted
        }
        count++;
        if (c.eat(',')) continue;
        if (!c.eat('}')) return false;
        c.ws();
        return c.i == json.size();
    }
}

}  // namespace

bool valid_meta_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > kMaxMetaName) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

std::string meta_value_problem(std::string_view value) {
    if (value.size() > kMaxMetaValue) return "longer than 256 bytes";
    return text_problem(value, false);
}

std::optional<Meta> parse_meta(std::string_view json, std::string& error) noexcept {
    try {
        Meta out;
        if (json.empty()) return out;
        auto v = parse_json(json, error);
        if (!v) {
            error = "meta is not JSON: " + error;
            return std::nullopt;
        }
        if (v->type != JsonValue::Type::kObject) {
            error = "meta is not a JSON object";
            return std::nullopt;
        }
        if (v->object.size() > kMaxMetaEntries) {
            error = "meta has more than 16 entries";
            return std::nullopt;
        }
        for (const auto& [name, value] : v->object) {
            if (!valid_meta_name(name)) {
                error = "meta name \"" + name.substr(0, 40) + "\" is not [a-z0-9_]{1,32}";
                return std::nullopt;
            }
            if (value.type != JsonValue::Type::kString) {
                error = "meta \"" + name + "\" is not a string";
                return std::nullopt;
            }
            std::string problem = meta_value_problem(value.string);
            if (!problem.empty()) {
                error = "meta \"" + name + "\": " + problem;
                return std::nullopt;
            }
            out.emplace_back(name, value.string);
        }
        return out;
    } catch (...) {
        error = "out of memory";
        return std::nullopt;
    }
}

bool valid_meta_json(std::string_view json) noexcept {
    if (json.empty()) return true;
    return walk(json, [](std::string_view, std::size_t, std::string_view) { return true; });
}

std::optional<std::size_t> meta_value(std::string_view json, std::string_view name, char* out,
                                      std::size_t cap) noexcept {
    std::optional<std::size_t> found;
    if (json.empty()) return found;
    walk(json, [&](std::string_view n, std::size_t, std::string_view v) {
        if (n != name) return true;
        if (v.size() <= cap) {
            std::memcpy(out, v.data(), v.size());
            found = v.size();
        }
        return false;
    });
    return found;
}

}  // namespace apikey
