#include "redis_url.hpp"

namespace apikey {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX in a URL's user and password (RFC 3986, 2.1)
bool percent_decode(std::string_view s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

}  // namespace

std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string& error) {
    RedisUrl url;
    if (text.substr(0, 9) == "rediss://") {
        url.tls = true;
        text.remove_prefix(9);
    } else if (text.substr(0, 8) == "redis://") {
        text.remove_prefix(8);
    } else {
        return std::nullopt;
    }

    // the last '@': a password may hold one unescaped; an address never does
    std::size_t at = text.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = text.substr(0, at);
        text.remove_prefix(at + 1);
        url.has_credentials = true;
        std::size_t colon = userinfo.find(':');
        bool ok = colon == std::string_view::npos
                      ? percent_decode(userinfo, url.password)   // redis://PASSWORD@host
                      : percent_decode(userinfo.substr(0, colon), url.user)
                            && percent_decode(userinfo.substr(colon + 1), url.password);
        if (!ok) {
            error = "invalid %-escape in the user or password of the Redis address";
            return RedisUrl{};
        }
    }

    if (!text.empty() && text.back() == '/') text.remove_suffix(1);
    if (text.empty()) {
        error = "a redis:// or rediss:// address needs a host";
        return RedisUrl{};
    }
    url.address = std::string(text);
    return url;
}

}  // namespace apikey
