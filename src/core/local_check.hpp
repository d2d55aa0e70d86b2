// The check script's decision, made in nginx from a cached record (apikey_cache):
// status, token grace, expiry, environment, IP allowlist and scopes, in the
// same order and with the same outcomes as the Lua (check_script.cpp). Rate
// limits are decided separately.
#pragma once

#include <cstdint>
#include <string_view>

#include "check_reply.hpp"

namespace apikey {

struct CachedRecord {
    enum class State : std::uint8_t { kUnknown, kActive, kRevoked, kDisabled };

    State state = State::kUnknown;    // kUnknown: a negative entry (no such token)
    std::string_view id;
    std::string_view name;
    std::string_view scopes;
    std::string_view hint;
    std::string_view limits;          // effective: the key's own, else its plan's
    std::string_view owner;           // issue 14's fields, as the script returned them
    std::string_view role;
    std::string_view plan;
    std::string_view env;             // "live", "test", or "" (= live)
    std::string_view meta;
    std::string_view allow_ip;        // canonical CIDRs, or "" (any address)
    std::string_view quota;           // effective: the key's own quotas, else its plan's
    bool has_credits = false;         // the record keeps credits: Redis decides each use
    std::int64_t expires = 0;
    std::int64_t created = 0;
    std::int64_t last_used = 0;
    std::int64_t token_until = 0;     // > 0: the previous token of a rotation with grace
    std::int64_t clock_offset_ms = 0; // Redis's clock minus the storing worker's
};

// Whether a request with this verdict records the key's use (last_used): its
// secret was presented for an active, unexpired key, whatever the scopes and
// limits then said. The script's check mode writes last_used at exactly this
// point; a cache hit asks for the write by the same rule.
bool records_use(Verdict v) noexcept;

// What the request brings besides its token.
struct CheckRequest {
    std::string_view required;   // scopes this location needs
    std::string_view super;      // superscopes
    std::string_view env;        // apikey_env: "live", "test", or "" (any)
    std::string_view client;     // the client address ($remote_addr)
};

// True when a key of record environment `env` ("" = live) may be used where
// apikey_env says `accepted` ("" = any).
bool env_accepts(std::string_view accepted, std::string_view env) noexcept;

// kOk means "passes everything but the rate limits"; kForbidden sets missing.
// `now`: unix seconds by Redis's clock (the script's TIME), not the worker's,
// so that a record is judged at the same moment on both paths.
Verdict decide_cached(const CachedRecord& record, std::int64_t now, const CheckRequest& request,
                      std::string_view& missing) noexcept;

// apikey_fail_mode cached: whether a cache entry may stand in for Redis while
// Redis cannot be reached. Only a record Redis last said was active, and only
// for `max_age` seconds after Redis last said so (`confirmed_at`, this host's
// clock; 0 = never), whatever the entry's ttl: the decision itself is then
// decide_cached's, so an expired, out-of-scope or rotated-away key is still
// refused. A clock stepped back counts as no time passed.
bool last_known_good(CachedRecord::State state, std::int64_t confirmed_at, std::int64_t now,
                     std::int64_t max_age) noexcept;

}  // namespace apikey
