#include "token.hpp"

#include <array>

namespace apikey {

namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t n = 0; n < 256; n++) {
        std::uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        table[n] = c;
    }
    return table;
}

constexpr auto kCrcTable = make_crc_table();

bool is_base62(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_id_char(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

// Fixed-width base62 of a 32-bit value: 62^6 > 2^32, so six digits always fit.
std::array<char, kCheckLength> encode_check(std::uint32_t value) noexcept {
    std::array<char, kCheckLength> out{};
    for (std::size_t i = kCheckLength; i-- > 0;) {
        out[i] = kBase62[value % 62];
        value /= 62;
    }
    return out;
}

}  // namespace

std::uint32_t crc32(std::string_view data) noexcept {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char byte : data) {
        c = kCrcTable[(c ^ byte) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

bool valid_key_id(std::string_view id) noexcept {
    if (id.size() != kIdLength) {
        return false;
    }
    for (char c : id) {
        if (!is_id_char(c)) {
            return false;
        }
    }
    return true;
}

bool is_b64token(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i < s.size(); i++) {
        char c = s[i];
        if (is_base62(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
            c == '/') {
            continue;
        }
        break;
    }
    if (i == 0) {
        return false;
    }
    for (; i < s.size(); i++) {
        if (s[i] != '=') {
            return false;
        }
    }
    return true;
}

ParsedToken parse_token(std::string_view token) noexcept {
    ParsedToken parsed;

    if (token.empty() || token.size() > kMaxCredentialLength || !is_b64token(token)) {
        return parsed;
    }

    if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
        parsed.shape = TokenShape::kForeign;
        return parsed;
    }

    // From here on it claims to be ours, so it must be exactly ours: a token with
    // our prefix and a bad checksum is a typo or a forgery, never a legacy key.
    if (token.size() != kTokenLength) {
        return parsed;
    }

    std::string_view id = token.substr(kTokenPrefix.size(), kIdLength);
    std::size_t sep = kTokenPrefix.size() + kIdLength;
    std::string_view rest = token.substr(sep + 1);

    if (!valid_key_id(id) || token[sep] != '_') {
        return parsed;
    }
    for (char c : rest) {
        if (!is_base62(c)) {
            return parsed;
        }
    }

    std::string_view body = token.substr(0, kTokenLength - kCheckLength);
    auto expected = encode_check(crc32(body));
    if (token.substr(kTokenLength - kCheckLength) !=
        std::string_view(expected.data(), expected.size())) {
        return parsed;
    }

    parsed.shape = TokenShape::kProject;
    parsed.id = id;
    return parsed;
}

std::string assemble_token(std::string_view id, std::string_view secret) {
    std::string token;
    token.reserve(kTokenLength);
    token.append(kTokenPrefix);
    token.append(id);
    token.push_back('_');
    token.append(secret);
    auto check = encode_check(crc32(token));
    token.append(check.data(), check.size());
    return token;
}

std::string_view token_hint(std::string_view token) noexcept {
    return token.size() <= kHintLength ? token : token.substr(token.size() - kHintLength);
}

}  // namespace apikey
