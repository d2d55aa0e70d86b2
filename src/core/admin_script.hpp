// The Lua script behind the admin API (apikey_admin), and decoding its replies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admin.hpp"
#include "record.hpp"

struct redisReply;

namespace apikey {

extern const std::string_view kAdminScript;

struct AdminReply {
    enum class Status { kOk, kNotFound, kConflict, kExists, kError };
    Status status = Status::kError;
    std::string message;      // conflict reason, or what was wrong with the reply
    KeyRecord record;         // kOk of get, create, update, rotate, revoke
};

// The reply of get, create, update, rotate, revoke and delete.
AdminReply decode_admin_record(const redisReply* reply, std::string_view id);

struct AdminPage {
    std::string cursor;               // "0": no more
    std::vector<KeyRecord> records;   // the page's records, unfiltered
};

bool decode_admin_list(const redisReply* reply, std::string_view prefix, AdminPage& out,
                       std::string& error);

// The page mode's answer: records in the index's order, the cursor of the
// next page ("" at the end). `needs_reindex` when the index is empty but
// records exist (keys written before the index: apikeyctl reindex).
bool decode_admin_page(const redisReply* reply, AdminPage& out, bool& needs_reindex,
                       std::string& error);

// A role or a plan as the role_ and plan_ modes return it.
struct Group {
    std::string name;
    std::string value;          // scopes of a role, limits of a plan
    std::string description;
    std::string quota;          // plans: their calendar quota ("" none)
    std::int64_t created = 0;
    std::int64_t updated = 0;
    std::int64_t keys = 0;      // how many keys use it
};
std::string group_json(const Group& g, std::string_view kind);

// role_get, role_create, role_update (and plan_): { "ok", fields, count,
// ids... }; the ids are the keys whose copy changed.
AdminReply decode_admin_group(const redisReply* reply, std::string_view kind, Group& out,
                              std::vector<std::string>& changed);
bool decode_admin_groups(const redisReply* reply, std::string_view kind,
                         std::vector<Group>& out, std::string& error);

bool decode_admin_audit(const redisReply* reply, std::vector<AuditEvent>& out,
                        std::string& error);

// The audit mode's answer for an id that has neither a record nor an event.
bool is_admin_not_found(const redisReply* reply);

}  // namespace apikey
