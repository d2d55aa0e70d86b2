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

bool decode_admin_audit(const redisReply* reply, std::vector<AuditEvent>& out,
                        std::string& error);

// The audit mode's answer for an id that has neither a record nor an event.
bool is_admin_not_found(const redisReply* reply);

}  // namespace apikey
