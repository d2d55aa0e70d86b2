#include "json_parse.hpp"

#include <cmath>
#include <cstdlib>

#include "json.hpp"

namespace apikey {

const JsonValue* JsonValue::find(std::string_view key) const noexcept {
    for (const auto& [k, v] : object) {
        if (k == key) return &v;
    }
    return nullptr;
}

namespace {

class Parser {
public:
    Parser(std::string_view text, std::string& error) : s_(text), error_(error) {}

    std::optional<JsonValue> document() {
        JsonValue v;
        if (!value(v, 0)) return std::nullopt;
        ws();
        if (i_ != s_.size()) return fail("unexpected data after the document");
        return v;
    }

private:
    std::nullopt_t fail(const char* what) {
        error_ = std::string(what) + " at offset " + std::to_string(i_);
        return std::nullopt;
    }

    bool bad(const char* what) {
        fail(what);
        return false;
    }

    void ws() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
            i_++;
        }
    }

    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return bad("invalid literal");
        i_ += word.size();
        return true;
    }

    bool value(JsonValue& v, std::size_t depth) {
        if (depth > kMaxJsonDepth) return bad("nested too deeply");
        ws();
        if (i_ >= s_.size()) return bad("unexpected end");
        switch (s_[i_]) {
        case '{': return object(v, depth);
        case '[': return array(v, depth);
        case '"': v.type = JsonValue::Type::kString; return string(v.string);
        case 't': v.type = JsonValue::Type::kBool; v.boolean = true; return literal("true");
        case 'f': v.type = JsonValue::Type::kBool; v.boolean = false; return literal("false");
        case 'n': v.type = JsonValue::Type::kNull; return literal("null");
        default: return number(v);
        }
    }

    bool object(JsonValue& v, std::size_t depth) {
        v.type = JsonValue::Type::kObject;
        i_++;
        ws();
        if (i_ < s_.size() && s_[i_] == '}') {
            i_++;
            return true;
        }
        for (;;) {
            ws();
            if (i_ >= s_.size() || s_[i_] != '"') return bad("expected a member name");
            std::string key;
            if (!string(key)) return false;
            if (v.find(key)) return bad("duplicate member name");
            ws();
            if (i_ >= s_.size() || s_[i_] != ':') return bad("expected ':'");
            i_++;
            JsonValue member;
            if (!value(member, depth + 1)) return false;
            v.object.emplace_back(std::move(key), std::move(member));
            ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                i_++;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == '}') {
                i_++;
                return true;
            }
            return bad("expected ',' or '}'");
        }
    }

    bool array(JsonValue& v, std::size_t depth) {
        v.type = JsonValue::Type::kArray;
        i_++;
        ws();
        if (i_ < s_.size() && s_[i_] == ']') {
            i_++;
            return true;
        }
        for (;;) {
            JsonValue item;
            if (!value(item, depth + 1)) return false;
            v.array.push_back(std::move(item));
            ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                i_++;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == ']') {
                i_++;
                return true;
            }
            return bad("expected ',' or ']'");
        }
    }

    bool number(JsonValue& v) {
        std::size_t start = i_;
        auto digits = [&] {
            std::size_t from = i_;
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') i_++;
            return i_ > from;
        };
        if (i_ < s_.size() && s_[i_] == '-') i_++;
        if (i_ < s_.size() && s_[i_] == '0') {
            i_++;
        } else if (!digits()) {
            return bad("unexpected character");
        }
        if (i_ < s_.size() && s_[i_] == '.') {
            i_++;
            if (!digits()) return bad("invalid number");
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            i_++;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) i_++;
            if (!digits()) return bad("invalid number");
        }
        std::string text(s_.substr(start, i_ - start));
        v.type = JsonValue::Type::kNumber;
        v.number = std::strtod(text.c_str(), nullptr);
        if (!std::isfinite(v.number)) return bad("number out of range");
        return true;
    }

    static void put_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | cp >> 6));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | cp >> 12));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | cp >> 18));
            out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    bool hex4(std::uint32_t& cp) {
        if (i_ + 4 > s_.size()) return bad("truncated \\u escape");
        cp = 0;
        for (int k = 0; k < 4; k++) {
            char c = s_[i_++];
            cp <<= 4;
            if (c >= '0' && c <= '9') cp |= c - '0';
            else if (c >= 'a' && c <= 'f') cp |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') cp |= c - 'A' + 10;
            else return bad("invalid \\u escape");
        }
        return true;
    }

    // Copies one UTF-8 sequence, refusing overlong forms, surrogates and > U+10FFFF.
    bool utf8(std::string& out) {
        std::size_t len = utf8_sequence(s_, i_);
        if (len == 0) return bad("invalid UTF-8");
        out.append(s_.substr(i_, len));
        i_ += len;
        return true;
    }

    bool string(std::string& out) {
        i_++;   // the opening quote
        for (;;) {
            if (i_ >= s_.size()) return bad("unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                i_++;
                return true;
            }
            if (c < 0x20) return bad("control character in string");
            if (c >= 0x80) {
                if (!utf8(out)) return false;
                continue;
            }
            if (c != '\\') {
                out.push_back(static_cast<char>(c));
                i_++;
                continue;
            }
            if (++i_ >= s_.size()) return bad("unterminated string");
            char e = s_[i_++];
            switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                std::uint32_t cp;
                if (!hex4(cp)) return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    std::uint32_t low;
                    if (s_.substr(i_, 2) != "\\u") return bad("lone surrogate");
                    i_ += 2;
                    if (!hex4(low)) return false;
                    if (low < 0xDC00 || low > 0xDFFF) return bad("lone surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return bad("lone surrogate");
                }
                put_utf8(out, cp);
                break;
            }
            default:
                return bad("invalid escape");
            }
        }
    }

    std::string_view s_;
    std::string& error_;
    std::size_t i_ = 0;
};

}  // namespace

std::optional<JsonValue> parse_json(std::string_view text, std::string& error) noexcept {
    try {
        return Parser(text, error).document();
    } catch (...) {
        error = "out of memory";
        return std::nullopt;
    }
}

}  // namespace apikey
