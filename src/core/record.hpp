// A key's record: the HASH at <prefix>key:{<id>} (README, "Redis data model").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apikey {

inline constexpr std::size_t kMaxNameLength = 128;
inline constexpr int kRecordVersion = 1;

struct KeyRecord {
    std::string id;
    std::string digest;          // hex SHA-256 (or HMAC-SHA256) of the token
    std::string name;
    std::string scopes;          // space separated
    std::string status;          // "active" or "revoked"
    std::string hint;            // last 4 characters of the token
    std::string limits;          // the key's own limits, "600r/m:50 10000r/d:10000"
    std::int64_t created = 0;    // unix seconds
    std::int64_t updated = 0;
    std::int64_t expires = 0;    // 0 = never
    std::int64_t revoked_at = 0;
    std::int64_t last_used = 0;  // written by the module, at most once per interval

    // rotation with grace: the previous token keeps working until prev_until
    std::string prev_digest;
    std::string prev_hint;
    std::int64_t prev_until = 0;

    bool imported = false;       // the hash of a token minted elsewhere

    bool in_grace(std::int64_t now) const noexcept {
        return !prev_digest.empty() && now < prev_until;
    }

    // "active", "revoked" or "expired" (expired is derived, never stored)
    std::string_view effective_status(std::int64_t now) const noexcept;
};

// Field/value pairs for HSET, in a stable order.
std::vector<std::pair<std::string, std::string>> record_fields(const KeyRecord& r);

// From HGETALL's field/value pairs. Fails on a record this version cannot trust.
bool decode_record(std::string_view id, const std::map<std::string, std::string>& fields,
                   KeyRecord& out, std::string& error);

// Names: 1..128 bytes of UTF-8, no control character (C0, DEL, C1) and no
// bidirectional control (text.hpp): they end up in logs, terminals and pages.
bool valid_key_name(std::string_view name) noexcept;
// What is wrong with a name ("empty", "too long", text_problem's), or "".
std::string name_problem(std::string_view name);

// The CLI's JSON view of a record; `token` is included only when non-empty
// (create and rotate, the one time it is shown).
std::string record_json(const KeyRecord& r, std::int64_t now, std::string_view token = {});

}  // namespace apikey
