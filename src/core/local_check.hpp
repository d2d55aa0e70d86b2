// The check script's decision, made in nginx from a cached record (apikey_cache):
// status, token grace, expiry and scopes, in the same order and with the same
// outcomes as the Lua (check_script.cpp). Rate limits are decided separately.
#pragma once

#include <cstdint>
#include <string_view>

#include "check_reply.hpp"

namespace apikey {

struct CachedRecord {
    enum class State : std::uint8_t { kUnknown, kActive, kRevoked };

    State state = State::kUnknown;    // kUnknown: a negative entry (no such token)
    std::string_view id;
    std::string_view name;
    std::string_view scopes;
    std::string_view hint;
    std::string_view limits;          // the key's own
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

// kOk means "passes everything but the rate limits"; kForbidden sets missing.
// `now`: unix seconds by Redis's clock (the script's TIME), not the worker's,
// so that a record is judged at the same moment on both paths.
Verdict decide_cached(const CachedRecord& record, std::int64_t now, std::string_view required,
                      std::string_view super, std::string_view& missing) noexcept;

}  // namespace apikey
