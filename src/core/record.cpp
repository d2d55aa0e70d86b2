#include "record.hpp"

#include "cidr.hpp"
#include "duration.hpp"
#include "json.hpp"
#include "meta.hpp"
#include "number.hpp"
#include "quota.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "text.hpp"

namespace apikey {

std::string KeyRecord::effective_scopes() const {
    std::string out = scopes;
    auto own = split_scopes(scopes);
    for (auto s : split_scopes(role_scopes)) {
        bool held = false;
        for (auto o : own) held = held || o == s;
        // a role scope listed twice in the role is still added once
        for (auto o : split_scopes(out)) held = held || o == s;
        if (!held) {
            if (!out.empty()) out.push_back(' ');
            out.append(s);
        }
    }
    return out;
}

std::string_view KeyRecord::effective_status(std::int64_t now) const noexcept {
    if (status == "revoked") return "revoked";
    if (status == "disabled") return "disabled";
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
    std::vector<std::pair<std::string, std::string>> fields = {
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
    for (auto [field, value] : {std::pair<const char*, const std::string*>{"owner", &r.owner},
                                {"role", &r.role}, {"role_scopes", &r.role_scopes},
                                {"plan", &r.plan}, {"plan_limits", &r.plan_limits},
                                {"env", &r.env}, {"meta", &r.meta}, {"allow_ip", &r.allow_ip},
                                {"quota", &r.quota}, {"plan_quota", &r.plan_quota},
                                {"refill", &r.refill}}) {
        if (!value->empty()) fields.emplace_back(field, *value);
    }
    for (auto [field, value] : {std::pair<const char*, const std::optional<std::int64_t>*>{
                                    "credits", &r.credits},
                                {"credits_granted", &r.credits_granted},
                                {"refilled", &r.refilled}}) {
        if (*value) fields.emplace_back(field, std::to_string(**value));
    }
    return fields;
}

namespace {

// quota, plan_quota and refill as quota.hpp writes them; credits,
// credits_granted and refilled whole numbers when present (absent: unset)
bool quota_fields_valid(KeyRecord& out, const std::map<std::string, std::string>& f,
                        std::string& error) {
    std::string problem;
    if (!parse_quota_list(out.quota, problem) || !parse_quota_list(out.plan_quota, problem) ||
        (!out.refill.empty() && !parse_refill(out.refill, problem))) {
        error = "invalid quota or refill: " + problem;
        return false;
    }
    for (auto [name, value] : {std::pair<const char*, std::optional<std::int64_t>*>{
                                   "credits", &out.credits},
                               {"credits_granted", &out.credits_granted},
                               {"refilled", &out.refilled}}) {
        auto it = f.find(name);
        if (it == f.end() || it->second.empty()) continue;
        auto n = parse_decimal(it->second);
        if (!n) {
            error = std::string("field \"") + name + "\" is not a number";
            return false;
        }
        *value = *n;
    }
    return true;
}

}  // namespace

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
    out.owner = get("owner");
    out.role = get("role");
    out.role_scopes = get("role_scopes");
    out.plan = get("plan");
    out.plan_limits = get("plan_limits");
    out.env = get("env");
    out.meta = get("meta");
    out.allow_ip = get("allow_ip");
    out.leak_url = get("leak_url");
    out.quota = get("quota");
    out.plan_quota = get("plan_quota");
    out.refill = get("refill");

    if (out.digest.empty()) {
        error = "no digest";
        return false;
    }
    if (out.status != "active" && out.status != "revoked" && out.status != "disabled") {
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
    if (!out.owner.empty() && !valid_owner(out.owner)) {
        error = "invalid owner";
        return false;
    }
    if ((!out.role.empty() && !valid_group_name(out.role)) ||
        (!out.plan.empty() && !valid_group_name(out.plan))) {
        error = "invalid role or plan name";
        return false;
    }
    if (!valid_scope_list(out.role_scopes)) {
        error = "invalid role_scopes";
        return false;
    }
    if (!parse_limit_list(out.plan_limits, limit_error)) {
        error = "invalid plan_limits: " + limit_error;
        return false;
    }
    if (!out.env.empty() && out.env != "live" && out.env != "test") {
        error = "unknown env \"" + out.env + "\"";
        return false;
    }
    std::string meta_error;
    if (!parse_meta(out.meta, meta_error)) {
        error = "invalid meta: " + meta_error;
        return false;
    }
    if (!out.allow_ip.empty()) {
        std::string cidr_error;
        auto canon = canonical_cidr_list(out.allow_ip, &cidr_error);
        if (!canon || *canon != out.allow_ip) {
            error = "allow_ip is not a canonical CIDR list";
            return false;
        }
    }
    if (!quota_fields_valid(out, f, error)) {
        return false;
    }
    return number("created", out.created) && number("updated", out.updated) &&
           number("expires", out.expires) && number("revoked", out.revoked_at) &&
           number("last_used", out.last_used) && number("prev_until", out.prev_until) &&
           number("leaked_at", out.leaked_at);
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

    // the key model (issue 14)
    auto optional = [&](const char* name, const std::string& value) {
        if (value.empty()) {
            json.null_field(name);
        } else {
            json.field(name, value);
        }
    };
    optional("owner", r.owner);
    optional("role", r.role);
    optional("plan", r.plan);
    json.field("env", r.effective_env());
    std::string meta = "{";
    std::string ignored_error;
    if (auto members = parse_meta(r.meta, ignored_error)) {
        for (const auto& [name, value] : *members) {
            if (meta.size() > 1) meta.push_back(',');
            append_json_string(meta, name);
            meta.push_back(':');
            append_json_string(meta, value);
        }
    }
    meta.push_back('}');
    json.raw_field("meta", meta);
    std::string allow = "[";
    for (auto cidr : split_scopes(r.allow_ip)) {   // space separated, as scopes are
        if (allow.size() > 1) allow.push_back(',');
        append_json_string(allow, cidr);
    }
    allow.push_back(']');
    json.raw_field("allow_ip", allow);
    // calendar quotas and credits, only where set (a key without them keeps
    // the shape it had before them)
    if (!r.quota.empty()) json.field("quota", r.quota);
    if (!r.plan_quota.empty()) json.field("plan_quota", r.plan_quota);
    if (r.credits) json.field("credits", *r.credits);
    if (r.credits_granted) json.field("credits_granted", *r.credits_granted);
    if (!r.refill.empty()) json.field("refill", r.refill);
    // only on a key a leaked-key report named (the key works on with action=flag)
    if (r.leaked_at > 0) {
        json.field("leaked_at", format_utc(r.leaked_at));
        json.field("leak_url", r.leak_url);
    }
    return json.str();
}

}  // namespace apikey
