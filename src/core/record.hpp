// A key's record: the HASH at <prefix>key:{<id>} (README, "Redis data model").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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
    std::string status;          // "active", "revoked" or "disabled"
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

    // The key model (issue 14). Every field is optional: a record written
    // before it (v1) has none, and means no owner, role or plan, env live,
    // no metadata, any address.
    std::string owner;           // 1-128 bytes of [A-Za-z0-9_.:@-]
    std::string role;            // [a-z0-9][a-z0-9_.-]{0,63}
    std::string role_scopes;     // a copy of the role's scopes (kept by role writes)
    std::string plan;            // same syntax as role
    std::string plan_limits;     // a copy of the plan's limits (kept by plan writes)
    std::string env;             // "live", "test", or "" (= live)
    std::string meta;            // JSON object of strings (meta.hpp), or ""
    std::string allow_ip;        // canonical CIDRs (cidr.hpp), or "" (any address)

    // Calendar quotas and credits (quota.hpp). Optional too: absent means no
    // quota of the key's own, and unlimited uses.
    std::string quota;           // the key's own: "500/day 1000000/month" (format_quota_list)
    std::string plan_quota;      // a copy of the plan's quota (kept by plan writes)
    std::optional<std::int64_t> credits;           // remaining uses; unset: unlimited
    std::optional<std::int64_t> credits_granted;   // the last grant (--credits, set, refill) plus adds
    std::string refill;          // "N/day" or "N/month", or ""
    std::optional<std::int64_t> refilled;          // start of the UTC period of the last refill

    // Written only by a leaked-key report (apikey_leak_report): when, and
    // where the token was found. 0 and "": never reported.
    std::int64_t leaked_at = 0;
    std::string leak_url;

    // "live" or "test"
    // (both arms string_view: "live" : env would make a temporary std::string)
    std::string_view effective_env() const noexcept {
        return env.empty() ? std::string_view("live") : std::string_view(env);
    }
    // the key's own scopes and its role's, without repeats
    std::string effective_scopes() const;
    // the key's own limits, else its plan's ("" means nginx.conf's default set)
    const std::string& effective_limits() const noexcept {
        return limits.empty() ? plan_limits : limits;
    }

    // the key's own quotas, else its plan's ("" means none)
    const std::string& effective_quota() const noexcept {
        return quota.empty() ? plan_quota : quota;
    }

    bool in_grace(std::int64_t now) const noexcept {
        return !prev_digest.empty() && now < prev_until;
    }

    // "active", "revoked", "disabled" or "expired" (expired is derived, never stored)
    std::string_view effective_status(std::int64_t now) const noexcept;
};

// Field/value pairs for HSET, in a stable order. The key model's fields come
// only when set (a key without them keeps the shape of a v1 record): clearing
// one is an HDEL, the writer's business.
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
