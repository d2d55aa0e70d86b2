#include "leak_report.hpp"

#include "json.hpp"
#include "json_parse.hpp"

namespace apikey {

namespace {

// An optional string member: absent or null is "", anything else must be a string.
bool optional_string(const JsonValue& object, std::string_view name, std::string& out)
{
    const JsonValue* v = object.find(name);
    if (v == nullptr || v->type == JsonValue::Type::kNull) {
        out.clear();
        return true;
    }
    if (v->type != JsonValue::Type::kString) {
        return false;
    }
    out = v->string;
    return true;
}

}  // namespace

namespace {

std::string parse_matches(std::string_view body, std::vector<LeakMatch>& out)
{
    if (body.size() > kMaxLeakReportBody) {
        return "the report is larger than 1 MiB";
    }
    std::string error;
    auto doc = parse_json(body, error);
    if (!doc) {
        return "the report is not JSON: " + error;
    }
    if (doc->type != JsonValue::Type::kArray) {
        return "the report is not a JSON array";
    }
    if (doc->array.size() > kMaxLeakMatches) {
        return "the report has more than " + std::to_string(kMaxLeakMatches) + " matches";
    }
    for (std::size_t i = 0; i < doc->array.size(); i++) {
        const JsonValue& item = doc->array[i];
        std::string where = "match " + std::to_string(i);
        if (item.type != JsonValue::Type::kObject) {
            return where + " is not an object";
        }
        const JsonValue* token = item.find("token");
        if (token == nullptr || token->type != JsonValue::Type::kString) {
            return where + " has no string \"token\"";
        }
        LeakMatch m;
        m.token = token->string;
        if (!optional_string(item, "type", m.type)) return where + ": \"type\" is not a string";
        if (!optional_string(item, "url", m.url)) return where + ": \"url\" is not a string";
        if (!optional_string(item, "source", m.source)) {
            return where + ": \"source\" is not a string";
        }
        out.push_back(std::move(m));
    }
    return {};
}

}  // namespace

std::string parse_leak_report(std::string_view body, std::vector<LeakMatch>& out)
{
    std::vector<LeakMatch> matches;
    std::string error = parse_matches(body, matches);
    out = error.empty() ? std::move(matches) : std::vector<LeakMatch>();
    return error;
}

namespace {

std::string parse_keys(std::string_view text, std::vector<LeakPublicKey>& out)
{
    std::string error;
    auto doc = parse_json(text, error);
    if (!doc) {
        return "not JSON: " + error;
    }
    const JsonValue* keys = doc->type == JsonValue::Type::kObject ? doc->find("public_keys")
                                                                  : nullptr;
    if (keys == nullptr || keys->type != JsonValue::Type::kArray) {
        return "no \"public_keys\" array";
    }
    for (std::size_t i = 0; i < keys->array.size(); i++) {
        const JsonValue& item = keys->array[i];
        std::string where = "public key " + std::to_string(i);
        if (item.type != JsonValue::Type::kObject) {
            return where + " is not an object";
        }
        const JsonValue* id = item.find("key_identifier");
        const JsonValue* pem = item.find("key");
        const JsonValue* current = item.find("is_current");
        if (id == nullptr || id->type != JsonValue::Type::kString || id->string.empty()) {
            return where + " has no \"key_identifier\"";
        }
        if (pem == nullptr || pem->type != JsonValue::Type::kString
            || pem->string.find("-----BEGIN PUBLIC KEY-----") == std::string::npos)
        {
            return where + " has no PEM \"key\"";
        }
        if (current != nullptr && current->type != JsonValue::Type::kBool) {
            return where + ": \"is_current\" is not true or false";
        }
        for (const auto& seen : out) {
            if (seen.identifier == id->string) {
                return where + " repeats the identifier \"" + id->string + "\"";
            }
        }
        out.push_back({id->string, pem->string, current != nullptr && current->boolean});
    }
    if (out.empty()) {
        return "\"public_keys\" is empty";
    }
    return {};
}

}  // namespace

std::string parse_leak_keys(std::string_view text, std::vector<LeakPublicKey>& out)
{
    std::vector<LeakPublicKey> keys;
    std::string error = parse_keys(text, keys);
    out = error.empty() ? std::move(keys) : std::vector<LeakPublicKey>();
    return error;
}

std::string leak_feedback(const std::vector<LeakVerdict>& verdicts)
{
    std::string out = "[";
    for (std::size_t i = 0; i < verdicts.size(); i++) {
        const LeakVerdict& v = verdicts[i];
        JsonObject o;
        o.field("token_hash", v.token_hash)
            .field("token_type", v.type)
            .field("label", v.true_positive ? "true_positive" : "false_positive");
        out += (i ? "," : "") + o.str();
    }
    return out + "]";
}

bool parse_leak_action(std::string_view name, LeakAction& out) noexcept
{
    if (name == "revoke") {
        out = LeakAction::kRevoke;
    } else if (name == "disable") {
        out = LeakAction::kDisable;
    } else if (name == "flag") {
        out = LeakAction::kFlag;
    } else {
        return false;
    }
    return true;
}

std::string_view leak_action_name(LeakAction action) noexcept
{
    switch (action) {
    case LeakAction::kRevoke: return "revoke";
    case LeakAction::kDisable: return "disable";
    case LeakAction::kFlag: return "flag";
    }
    return "revoke";
}

}  // namespace apikey
