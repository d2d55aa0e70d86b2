#include "redis_url.hpp"

#include "text.hpp"

namespace apikey {

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
                      ? percent_decode(userinfo, url.password, false)   // redis://PASSWORD@host
                      : percent_decode(userinfo.substr(0, colon), url.user, false)
                            && percent_decode(userinfo.substr(colon + 1), url.password, false);
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
