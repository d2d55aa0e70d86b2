// redis://[USER:PASSWORD@]ADDRESS and rediss://... (TLS), as apikeyctl takes
// them in --redis or APIKEY_REDIS. ADDRESS is any of the plain forms
// (host:port, unix:/path, "sentinel=... master=NAME", "cluster=..."); the URL
// only adds the scheme and the credentials around it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace apikey {

struct RedisUrl {
    bool tls = false;
    bool has_credentials = false;   // a userinfo part was given
    std::string user;               // empty: AUTH password (the default user)
    std::string password;
    std::string address;
};

// nullopt: not a redis:// or rediss:// URL (a plain address); an invalid URL
// (a bad %-escape, no address) sets `error` and returns a RedisUrl with an
// empty address.
std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string& error);

}  // namespace apikey
