// Decoding the admin script's replies: input like any other, checked before use.
#include <hiredis/hiredis.h>

#include <map>

#include "admin_script.hpp"
#include "keyspace.hpp"
#include "duration.hpp"
#include "json.hpp"
#include "number.hpp"
#include "rate.hpp"
#include "scope.hpp"

namespace apikey {

namespace {

bool is_string(const redisReply* r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

std::string_view text(const redisReply* r) { return std::string_view(r->str, r->len); }

// HGETALL's flat field, value, field, value... into a record.
bool decode_fields(const redisReply* fields, std::string_view id, KeyRecord& out,
                   std::string& error) {
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) {
        error = "unexpected record reply";
        return false;
    }
    std::map<std::string, std::string> map;
    for (std::size_t i = 0; i < fields->elements; i += 2) {
        if (!is_string(fields->element[i]) || !is_string(fields->element[i + 1])) {
            error = "unexpected record reply";
            return false;
        }
        map.emplace(text(fields->element[i]), text(fields->element[i + 1]));
    }
    if (map.empty()) {
        error = "no such key";
        return false;
    }
    return decode_record(id, map, out, error);
}

}  // namespace

AdminReply decode_admin_record(const redisReply* reply, std::string_view id) {
    AdminReply out;
    if (reply == nullptr) {
        out.message = "no reply (connection lost)";
        return out;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        out.message.assign(reply->str, reply->len);
        return out;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || !is_string(reply->element[0])) {
        out.message = "unexpected reply";
        return out;
    }

    std::string_view word = text(reply->element[0]);
    if (word == "not_found") {
        out.status = AdminReply::Status::kNotFound;
    } else if (word == "exists") {
        out.status = AdminReply::Status::kExists;
    } else if (word == "conflict" && reply->elements == 2 && is_string(reply->element[1])) {
        out.status = AdminReply::Status::kConflict;
        out.message = std::string(text(reply->element[1]));
    } else if (word == "ok" && reply->elements == 1) {
        out.status = AdminReply::Status::kOk;   // delete: nothing left to show
    } else if (word == "ok" && reply->elements == 2) {
        if (reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements == 0) {
            out.status = AdminReply::Status::kNotFound;   // get of a missing key
        } else if (decode_fields(reply->element[1], id, out.record, out.message)) {
            out.status = AdminReply::Status::kOk;
        } else {
            out.message = "the record is damaged: " + out.message;
        }
    } else {
        out.message = "unexpected reply";
    }
    return out;
}

bool decode_admin_list(const redisReply* reply, std::string_view prefix, AdminPage& out,
                       std::string& error) {
    out = AdminPage{};
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->elements % 2 != 1 || !is_string(reply->element[0]) ||
        !parse_decimal(text(reply->element[0]))) {
        error = reply && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                          : "unexpected reply";
        return false;
    }
    out.cursor = std::string(text(reply->element[0]));
    for (std::size_t i = 1; i + 1 < reply->elements; i += 2) {
        if (!is_string(reply->element[i])) continue;
        std::string_view id = id_of_record_key(prefix, text(reply->element[i]));
        KeyRecord record;
        std::string ignored;
        // a key deleted between SCAN and HGETALL, or a damaged one: skipped
        if (!id.empty() && decode_fields(reply->element[i + 1], id, record, ignored)) {
            out.records.push_back(std::move(record));
        }
    }
    return true;
}

bool decode_admin_page(const redisReply* reply, AdminPage& out, bool& needs_reindex,
                       std::string& error) {
    out = AdminPage{};
    needs_reindex = false;
    if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        is_string(reply->element[0]) && text(reply->element[0]) == "reindex") {
        needs_reindex = true;
        return true;
    }
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->elements % 2 != 0 || !is_string(reply->element[0]) ||
        text(reply->element[0]) != "page" || !is_string(reply->element[1])) {
        error = reply && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                          : "unexpected reply";
        return false;
    }
    out.cursor = std::string(text(reply->element[1]));
    for (std::size_t i = 2; i + 1 < reply->elements; i += 2) {
        if (!is_string(reply->element[i])) continue;
        std::string_view id = text(reply->element[i]);
        KeyRecord record;
        std::string ignored;
        // a damaged record is skipped, as in the SCAN list
        if (decode_fields(reply->element[i + 1], id, record, ignored)) {
            out.records.push_back(std::move(record));
        }
    }
    return true;
}

namespace {

bool decode_group(const redisReply* fields, std::string_view kind, Group& g) {
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) return false;
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (!is_string(fields->element[i]) || !is_string(fields->element[i + 1])) return false;
        std::string_view name = text(fields->element[i]), value = text(fields->element[i + 1]);
        if (name == (kind == "role" ? "scopes" : "limits")) g.value = std::string(value);
        else if (name == "description") g.description = std::string(value);
        else if (kind == "plan" && name == "quota") g.quota = std::string(value);
        else if (name == "created") g.created = parse_decimal(value).value_or(0);
        else if (name == "updated") g.updated = parse_decimal(value).value_or(0);
    }
    return fields->elements > 0;
}

}  // namespace

AdminReply decode_admin_group(const redisReply* reply, std::string_view kind, Group& out,
                              std::vector<std::string>& changed) {
    AdminReply result;
    changed.clear();
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        !is_string(reply->element[0])) {
        result.message = reply && reply->type == REDIS_REPLY_ERROR
                             ? std::string(reply->str, reply->len) : "unexpected reply";
        return result;
    }
    std::string_view word = text(reply->element[0]);
    if (word == "not_found") {
        result.status = AdminReply::Status::kNotFound;
    } else if (word == "exists") {
        result.status = AdminReply::Status::kExists;
    } else if (word == "conflict" && reply->elements == 2 && is_string(reply->element[1])) {
        result.status = AdminReply::Status::kConflict;
        result.message = std::string(text(reply->element[1]));
    } else if (word == "ok" && reply->elements == 1) {
        result.status = AdminReply::Status::kOk;   // delete
    } else if (word == "ok" && reply->elements >= 3 &&
               reply->element[2]->type == REDIS_REPLY_INTEGER &&
               decode_group(reply->element[1], kind, out)) {
        out.keys = reply->element[2]->integer;
        for (std::size_t i = 3; i < reply->elements; i++) {
            if (is_string(reply->element[i])) changed.emplace_back(text(reply->element[i]));
        }
        result.status = AdminReply::Status::kOk;
    } else {
        result.message = "unexpected reply";
    }
    return result;
}

bool decode_admin_groups(const redisReply* reply, std::string_view kind,
                         std::vector<Group>& out, std::string& error) {
    out.clear();
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements % 3 != 0) {
        error = reply && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                          : "unexpected reply";
        return false;
    }
    for (std::size_t i = 0; i + 2 < reply->elements; i += 3) {
        Group g;
        if (!is_string(reply->element[i]) || reply->element[i + 2]->type != REDIS_REPLY_INTEGER) {
            continue;
        }
        g.name = std::string(text(reply->element[i]));
        if (!decode_group(reply->element[i + 1], kind, g)) continue;   // gone meanwhile
        g.keys = reply->element[i + 2]->integer;
        out.push_back(std::move(g));
    }
    return true;
}

std::string group_json(const Group& g, std::string_view kind) {
    std::string items = "[";
    if (kind == "role") {
        for (auto s : split_scopes(g.value)) {
            if (items.size() > 1) items.push_back(',');
            append_json_string(items, s);
        }
    } else {
        std::string ignored;
        if (auto parsed = parse_limit_list(g.value, ignored)) {
            for (const auto& l : *parsed) {
                if (items.size() > 1) items.push_back(',');
                append_json_string(items, l.to_string());
            }
        }
    }
    items.push_back(']');
    JsonObject json;
    json.field("name", g.name)
        .raw_field(kind == "role" ? "scopes" : "limits", items);
    if (!g.quota.empty()) json.field("quota", g.quota);   // plans: only when set
    json.field("description", g.description)
        .field("keys", g.keys)
        .field("created_at", format_utc(g.created))
        .field("updated_at", format_utc(g.updated));
    return json.str();
}

bool is_admin_not_found(const redisReply* reply) {
    return reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
           is_string(reply->element[0]) && text(reply->element[0]) == "not_found";
}

bool decode_admin_audit(const redisReply* reply, std::vector<AuditEvent>& out,
                        std::string& error) {
    out.clear();
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
        error = reply && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                          : "unexpected reply";
        return false;
    }
    for (std::size_t i = 0; i < reply->elements; i++) {
        const redisReply* entry = reply->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
            !is_string(entry->element[0]) || entry->element[1]->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        AuditEvent e;
        e.stream_id = std::string(text(entry->element[0]));
        const redisReply* f = entry->element[1];
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
            if (!is_string(f->element[k]) || !is_string(f->element[k + 1])) continue;
            std::string_view name = text(f->element[k]), value = text(f->element[k + 1]);
            if (name == "time") e.time = parse_decimal(value).value_or(0);
            else if (name == "key") e.key_id = std::string(value);
            else if (name == "action") e.action = std::string(value);
            else if (name == "user") e.user = std::string(value);
            else if (name == "reason") e.reason = std::string(value);
            else if (name == "via") e.via = std::string(value);
        }
        out.push_back(std::move(e));
    }
    return true;
}

}  // namespace apikey
