#include "record.hpp"

#include "duration.hpp"
#include "json.hpp"
#include "number.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "text.hpp"

namespace apikey {

std::string_view KeyRecord::effective_status(std::int64_t now) const noexcept {
    if (status == "revoked") return "revoked";
    if (expires > 0 && now >= expires) return "expired";
    return "active";
}

bool valid_key_name(std::string_view name) noexcept {
    try {
        return name_problem(name).empty();
    } catch (...) {   // std::bad_alloc building the message
        return false;
    }
}

std::string name_problem(std::string_view name) {
    if (name.empty()) return "empty";
    // characters (code points), as the OpenAPI schema's maxLength counts them
    if (utf8_length(name) > kMaxNameLength) return "too long (at most 128 characters)";
    return text_problem(name, false);
}

std::vector<std::pair<std::string, std::string>> record_fields(const KeyRecord& r) {
    return {
        {"v", std::to_string(kRecordVersion)},
        {"digest", r.digest},
        {"status", r.status},
        {"name", r.name},
        {"scopes", r.scopes},
        {"hint", r.hint},
        {"limits", r.limits},
        {"created", std::to_string(r.created)},
        {"updated", std::to_string(r.updated)},
        {"expires", std::to_string(r.expires)},
        {"revoked", std::to_string(r.revoked_at)},
        {"prev_digest", r.prev_digest},
        {"prev_hint", r.prev_hint},
        {"prev_until", std::to_string(r.prev_until)},
        {"imported", r.imported ? "1" : "0"},
    };
}

bool decode_record(std::string_view id, const std::map<std::string, std::string>& f,
                   KeyRecord& out, std::string& error) {
    auto get = [&](const char* name) -> std::string {
        auto it = f.find(name);
        return it == f.end() ? std::string() : it->second;
    };
    auto number = [&](const char* name, std::int64_t& value) {
        std::string text = get(name);
        if (text.empty()) {
            value = 0;
            return true;
        }
        auto n = parse_decimal(text);
        if (!n) {
            error = std::string("field \"") + name + "\" is not a number";
            return false;
        }
        value = *n;
        return true;
    };

    out = KeyRecord{};
    out.id = std::string(id);
    out.digest = get("digest");
    out.name = get("name");
    out.scopes = get("scopes");
    out.status = get("status");
    out.hint = get("hint");
    out.limits = get("limits");
    out.prev_digest = get("prev_digest");
    out.prev_hint = get("prev_hint");
    out.imported = get("imported") == "1";

    if (out.digest.empty()) {
        error = "no digest";
        return false;
    }
    if (out.status != "active" && out.status != "revoked") {
        error = "unknown status \"" + out.status + "\"";
        return false;
    }
    if (!valid_scope_list(out.scopes)) {
        error = "invalid scopes";
        return false;
    }
    std::string limit_error;
    if (!parse_limit_list(out.limits, limit_error)) {
        error = "invalid limits: " + limit_error;
        return false;
    }
    return number("created", out.created) && number("updated", out.updated) &&
           number("expires", out.expires) && number("revoked", out.revoked_at) &&
           number("last_used", out.last_used) && number("prev_until", out.prev_until);
}

std::string record_json(const KeyRecord& r, std::int64_t now, std::string_view token) {
    std::string scopes = "[";
    for (auto s : split_scopes(r.scopes)) {
        if (scopes.size() > 1) scopes.push_back(',');
        append_json_string(scopes, s);
    }
    scopes.push_back(']');

    std::string limits = "[";
    std::string ignored;
    if (auto parsed = parse_limit_list(r.limits, ignored)) {
        for (const auto& l : *parsed) {
            if (limits.size() > 1) limits.push_back(',');
            append_json_string(limits, l.to_string());
        }
    }
    limits.push_back(']');

    JsonObject json;
    json.field("id", r.id);
    if (!token.empty()) {
        json.field("token", token);
    }
    json.field("name", r.name);
    json.raw_field("scopes", scopes);
    json.field("status", r.effective_status(now));
    json.field("hint", r.hint);
    json.raw_field("limits", limits);
    json.field("created_at", format_utc(r.created));
    if (r.expires > 0) {
        json.field("expires_at", format_utc(r.expires));
    } else {
        json.null_field("expires_at");
    }
    if (r.revoked_at > 0) {
        json.field("revoked_at", format_utc(r.revoked_at));
    } else {
        json.null_field("revoked_at");
    }
    if (r.last_used > 0) {
        json.field("last_used_at", format_utc(r.last_used));
    } else {
        json.null_field("last_used_at");
    }
    if (r.in_grace(now)) {
        JsonObject previous;
        previous.field("hint", r.prev_hint).field("valid_until", format_utc(r.prev_until));
        json.raw_field("previous_token", previous.str());
    } else {
        json.null_field("previous_token");
    }
    json.field("imported", r.imported);
    return json.str();
}

}  // namespace apikey
