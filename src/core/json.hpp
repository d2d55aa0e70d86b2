// Just enough JSON writing for error bodies and CLI output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace apikey {

// Appends `s` as a JSON string literal (with quotes). Control bytes are escaped;
// bytes >= 0x80 that do not form valid UTF-8 become U+FFFD so the output is
// always valid JSON whatever a record holds.
void append_json_string(std::string& out, std::string_view s);

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none
// (overlong forms, surrogates and code points above U+10FFFF are not valid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept;

class JsonObject {
public:
    JsonObject& field(std::string_view name, std::string_view value);
    JsonObject& field(std::string_view name, const char* value) {
        return field(name, std::string_view(value));
    }
    JsonObject& field(std::string_view name, std::int64_t value);
    JsonObject& field(std::string_view name, bool value);
    JsonObject& null_field(std::string_view name);
    JsonObject& raw_field(std::string_view name, std::string_view json);
    std::string str() const { return body_ + "}"; }

private:
    void key(std::string_view name);
    std::string body_ = "{";
};

}  // namespace apikey
