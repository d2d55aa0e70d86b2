#include "cidr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace apikey {

namespace {

constexpr IpAddress kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

bool is_mapped(const IpAddress& a) noexcept {
    return std::memcmp(a.data(), kMappedPrefix.data(), 12) == 0;
}

// inet_pton wants a C string; addresses are short, so a stack copy does.
bool to_cstr(std::string_view text, char (&buf)[64]) noexcept {
    // an embedded NUL would cut the text short for inet_pton
    if (text.empty() || text.size() >= sizeof(buf) ||
        std::memchr(text.data(), '\0', text.size()) != nullptr) {
        return false;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    return true;
}

// Decimal prefix length, no sign, no leading zero, at most `max`.
bool parse_prefix(std::string_view s, unsigned max, unsigned* out) noexcept {
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) {
        return false;
    }
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

void clear_host_bits(IpAddress* a, unsigned bits) noexcept {
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (lo >= bits) {
            (*a)[i] = 0;
        } else if (bits < lo + 8) {
            (*a)[i] &= static_cast<std::uint8_t>(0xff << (8 - (bits - lo)));
        }
    }
}

// Parses `text` as an address of either family: `v4` says which it was.
bool parse_any(std::string_view text, IpAddress* out, bool* v4) noexcept {
    char buf[64];
    if (!to_cstr(text, buf)) {
        return false;
    }
    std::uint8_t raw[16];
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, raw) != 1) {
            return false;
        }
        *out = kMappedPrefix;
        std::memcpy(out->data() + 12, raw, 4);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, raw) != 1) {
        return false;
    }
    std::memcpy(out->data(), raw, 16);
    *v4 = false;
    return true;
}

}  // namespace

bool parse_ip_address(std::string_view text, IpAddress* out) noexcept {
    bool v4;
    return parse_any(text, out, &v4);
}

std::optional<Cidr> parse_cidr(std::string_view text) noexcept {
    std::size_t slash = text.find('/');
    std::string_view addr = text.substr(0, slash);
    Cidr c;
    if (!parse_any(addr, &c.network, &c.v4)) {
        return std::nullopt;
    }
    unsigned bits = c.v4 ? 32 : 128;
    if (slash != std::string_view::npos && !parse_prefix(text.substr(slash + 1), bits, &bits)) {
        return std::nullopt;
    }
    c.bits = c.v4 ? 96 + bits : bits;
    // an IPv4-mapped IPv6 network of /96 or longer is an IPv4 network
    if (!c.v4 && c.bits >= 96 && is_mapped(c.network)) {
        c.v4 = true;
    }
    clear_host_bits(&c.network, c.bits);
    return c;
}

std::string format_cidr(const Cidr& c) {
    std::string out;
    if (c.v4) {
        for (int i = 12; i < 16; i++) {
            if (i > 12) out.push_back('.');
            out.append(std::to_string(c.network[i]));
        }
        out.push_back('/');
        out.append(std::to_string(c.bits - 96));
        return out;
    }
    // RFC 5952: the longest run of at least two zero groups (the first of
    // equals) becomes "::"; groups in lower-case hex without leading zeros
    unsigned groups[8];
    for (int i = 0; i < 8; i++) {
        groups[i] = static_cast<unsigned>(c.network[2 * i]) << 8 | c.network[2 * i + 1];
    }
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (groups[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && groups[j] == 0) j++;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    static const char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            out.append("::");
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len) out.push_back(':');
        char g[4];
        int n = 0;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned d = (groups[i] >> shift) & 0xf;
            if (n == 0 && d == 0 && shift > 0) continue;
            g[n++] = kHex[d];
        }
        out.append(g, static_cast<std::size_t>(n));
    }
    out.push_back('/');
    out.append(std::to_string(c.bits));
    return out;
}

std::optional<std::string> canonical_cidr_list(std::string_view text, std::string* error) {
    std::string out;
    std::size_t count = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ' || text[i] == ',' || text[i] == '\t') {
            i++;
            continue;
        }
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '\t') j++;
        std::string_view item = text.substr(i, j - i);
        i = j;
        auto c = parse_cidr(item);
        if (!c) {
            if (error) *error = "\"" + std::string(item.substr(0, 64)) +
                                "\" is not an IPv4 or IPv6 address or CIDR";
            return std::nullopt;
        }
        std::string canon = format_cidr(*c);
        // drop duplicates, whatever their spelling
        bool seen = false;
        for (std::size_t p = 0; p < out.size();) {
            std::size_t q = out.find(' ', p);
            if (q == std::string::npos) q = out.size();
            if (std::string_view(out).substr(p, q - p) == canon) seen = true;
            p = q + 1;
        }
        if (seen) continue;
        if (++count > kMaxAllowIp) {
            if (error) *error = "at most " + std::to_string(kMaxAllowIp) + " addresses or networks";
            return std::nullopt;
        }
        if (!out.empty()) out.push_back(' ');
        out.append(canon);
    }
    if (out.empty()) {
        if (error) *error = "no address or network given";
        return std::nullopt;
    }
    return out;
}

bool cidr_contains(const Cidr& c, const IpAddress& a) noexcept {
    unsigned full = c.bits / 8, rest = c.bits % 8;
    if (std::memcmp(c.network.data(), a.data(), full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[full] & mask) == c.network[full];
}

bool cidr_list_allows(std::string_view list, std::string_view client) noexcept {
    std::size_t i = 0;
    while (i < list.size() && list[i] == ' ') i++;
    if (i == list.size()) {
        return true;
    }
    IpAddress addr;
    if (!parse_ip_address(client, &addr)) {
        return false;
    }
    while (i < list.size()) {
        std::size_t j = list.find(' ', i);
        if (j == std::string_view::npos) j = list.size();
        if (j > i) {
            auto c = parse_cidr(list.substr(i, j - i));
            if (c && cidr_contains(*c, addr)) {
                return true;
            }
        }
        i = j + 1;
    }
    return false;
}

bool ip_address_hex(std::string_view client, std::array<char, 32>* out) noexcept {
    IpAddress addr;
    if (!parse_ip_address(client, &addr)) {
        return false;
    }
    static const char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        (*out)[2 * i] = kHex[addr[i] >> 4];
        (*out)[2 * i + 1] = kHex[addr[i] & 0xf];
    }
    return true;
}

}  // namespace apikey
