#include "token.hpp"

#include <array>

namespace apikey {

namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// CRC-32 by slicing-by-8: eight tables, eight bytes a step. Every token the
// module sees is checksummed, so this is on the hot path of garbage floods.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    for (std::uint32_t n = 0; n < 256; n++) {
        std::uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        t[0][n] = c;
    }
    for (std::uint32_t n = 0; n < 256; n++) {
        for (int k = 1; k < 8; k++) {
            t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xFF];
        }
    }
    return t;
}

constexpr auto kCrc = make_crc_tables();

// Character classes, one table lookup each.
enum : std::uint8_t { kClassBase62 = 1, kB64Extra = 2, kIdChar = 4 };

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> c{};
    for (int i = '0'; i <= '9'; i++) c[i] = kClassBase62 | kIdChar;
    for (int i = 'a'; i <= 'z'; i++) c[i] = kClassBase62 | kIdChar;
    for (int i = 'A'; i <= 'Z'; i++) c[i] = kClassBase62;
    for (char x : {'-', '.', '_', '~', '+', '/'}) c[static_cast<unsigned char>(x)] = kB64Extra;
    return c;
}

constexpr auto kClass = make_classes();

bool is_base62(char c) noexcept {
    return kClass[static_cast<unsigned char>(c)] & kClassBase62;
}

bool is_id_char(char c) noexcept {
    return kClass[static_cast<unsigned char>(c)] & kIdChar;
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
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    while (n >= 8) {
        std::uint32_t lo = c ^ (p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24);
        std::uint32_t hi = p[4] | p[5] << 8 | p[6] << 16 | static_cast<std::uint32_t>(p[7]) << 24;
        c = kCrc[7][lo & 0xFF] ^ kCrc[6][(lo >> 8) & 0xFF] ^ kCrc[5][(lo >> 16) & 0xFF] ^
            kCrc[4][lo >> 24] ^ kCrc[3][hi & 0xFF] ^ kCrc[2][(hi >> 8) & 0xFF] ^
            kCrc[1][(hi >> 16) & 0xFF] ^ kCrc[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) {
        c = kCrc[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
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
    while (i < s.size() && kClass[static_cast<unsigned char>(s[i])] & (kClassBase62 | kB64Extra)) {
        i++;
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
    // The two shapes differ in length, and an id has no '_', so a token is one
    // or the other, never both.
    KeyEnv env = KeyEnv::kUnknown;
    std::size_t head = kTokenPrefix.size();
    if (token.size() == kTokenLength) {
        std::string_view prefix = token.substr(0, kLivePrefix.size());
        if (prefix == kLivePrefix) {
            env = KeyEnv::kLive;
        } else if (prefix == kTestPrefix) {
            env = KeyEnv::kTest;
        } else {
            return parsed;
        }
        head = kLivePrefix.size();
    } else if (token.size() != kLegacyTokenLength) {
        return parsed;
    }

    std::string_view id = token.substr(head, kIdLength);
    std::size_t sep = head + kIdLength;
    std::string_view rest = token.substr(sep + 1);

    if (!valid_key_id(id) || token[sep] != '_') {
        return parsed;
    }
    for (char c : rest) {
        if (!is_base62(c)) {
            return parsed;
        }
    }

    std::string_view body = token.substr(0, token.size() - kCheckLength);
    auto expected = encode_check(crc32(body));
    if (token.substr(token.size() - kCheckLength) !=
        std::string_view(expected.data(), expected.size())) {
        return parsed;
    }

    parsed.shape = TokenShape::kProject;
    parsed.id = id;
    parsed.env = env;
    return parsed;
}

std::string assemble_token(std::string_view id, std::string_view secret, KeyEnv env) {
    std::string token;
    token.reserve(kTokenLength);
    switch (env) {
        case KeyEnv::kLive: token.append(kLivePrefix); break;
        case KeyEnv::kTest: token.append(kTestPrefix); break;
        case KeyEnv::kUnknown: token.append(kTokenPrefix); break;
    }
    token.append(id);
    token.push_back('_');
    token.append(secret);
    auto check = encode_check(crc32(token));
    token.append(check.data(), check.size());
    return token;
}

std::string_view key_env_name(KeyEnv env) noexcept {
    switch (env) {
        case KeyEnv::kLive: return "live";
        case KeyEnv::kTest: return "test";
        case KeyEnv::kUnknown: break;
    }
    return "";
}

KeyEnv parse_key_env(std::string_view name) noexcept {
    if (name == "live") return KeyEnv::kLive;
    if (name == "test") return KeyEnv::kTest;
    return KeyEnv::kUnknown;
}

std::string_view token_hint(std::string_view token) noexcept {
    return token.size() <= kHintLength ? token : token.substr(token.size() - kHintLength);
}

}  // namespace apikey
