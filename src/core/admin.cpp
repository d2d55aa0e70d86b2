#include "admin.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <utility>

#include <openssl/evp.h>

#include "cidr.hpp"
#include "duration.hpp"
#include "json.hpp"
#include "json_parse.hpp"
#include "meta.hpp"
#include "number.hpp"
#include "quota.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "text.hpp"
#include "token.hpp"

namespace apikey {

AdminTarget admin_route(std::string_view method, std::string_view path) noexcept {
    AdminTarget t;

    while (!path.empty() && path.back() == '/') path.remove_suffix(1);

    // the route whose method this is, or a 405 naming the path's methods
    auto pick = [&](std::string_view allow,
                    std::initializer_list<std::pair<std::string_view, AdminRoute>> routes) {
        t.allow = allow;
        t.route = AdminRoute::kMethodNotAllowed;
        for (const auto& [m, route] : routes) {
            if (method == m) t.route = route;
        }
        return t;
    };

    if (path.empty() || path == "index.html") {
        return pick("GET", {{"GET", AdminRoute::kPage}});
    }
    if (path == "keys/openapi.json") {
        return pick("GET", {{"GET", AdminRoute::kOpenApi}});
    }
    if (path == "keys") {
        return pick("GET, POST", {{"GET", AdminRoute::kList}, {"POST", AdminRoute::kCreate}});
    }
    // roles and plans: named scope and limit sets, as resources of their own
    for (bool role : {true, false}) {
        std::string_view base = role ? "roles" : "plans";
        if (path == base) {
            return pick("GET, POST",
                        {{"GET", role ? AdminRoute::kRoleList : AdminRoute::kPlanList},
                         {"POST", role ? AdminRoute::kRoleCreate : AdminRoute::kPlanCreate}});
        }
        if (path.size() > base.size() + 1 && path.substr(0, base.size()) == base &&
            path[base.size()] == '/')
        {
            t.id = path.substr(base.size() + 1);
            if (!valid_group_name(t.id)) {
                t.route = AdminRoute::kNotFound;
                return t;
            }
            return pick("GET, PATCH, DELETE",
                        {{"GET", role ? AdminRoute::kRoleGet : AdminRoute::kPlanGet},
                         {"PATCH", role ? AdminRoute::kRoleUpdate : AdminRoute::kPlanUpdate},
                         {"DELETE", role ? AdminRoute::kRoleDelete : AdminRoute::kPlanDelete}});
        }
    }

    // every key of an owner at once: a customer who left, a leaked laptop
    if (path.substr(0, 7) == "owners/") {
        std::string_view rest = path.substr(7);
        std::size_t slash = rest.find('/');
        if (slash != std::string_view::npos && rest.substr(slash + 1) == "revoke" &&
            valid_owner(rest.substr(0, slash)))
        {
            t.id = rest.substr(0, slash);
            return pick("POST", {{"POST", AdminRoute::kOwnerRevoke}});
        }
        return t;
    }

    if (path.substr(0, 5) != "keys/") {
        return t;
    }

    path.remove_prefix(5);
    std::size_t slash = path.find('/');
    t.id = path.substr(0, slash);
    if (!valid_key_id(t.id)) {
        t.route = AdminRoute::kNotFound;
        return t;
    }

    std::string_view action = slash == std::string_view::npos ? "" : path.substr(slash + 1);
    if (action.empty()) {
        return pick("GET, PATCH, DELETE", {{"GET", AdminRoute::kGet},
                                           {"PATCH", AdminRoute::kUpdate},
                                           {"DELETE", AdminRoute::kDelete}});
    }
    if (action == "rotate") return pick("POST", {{"POST", AdminRoute::kRotate}});
    if (action == "revoke") return pick("POST", {{"POST", AdminRoute::kRevoke}});
    if (action == "audit") return pick("GET", {{"GET", AdminRoute::kAudit}});
    if (action == "usage") return pick("GET", {{"GET", AdminRoute::kUsage}});
    if (action == "limits/reset") return pick("POST", {{"POST", AdminRoute::kResetLimits}});
    if (action == "credits") return pick("POST", {{"POST", AdminRoute::kCredits}});
    if (action == "disable") return pick("POST", {{"POST", AdminRoute::kDisable}});
    if (action == "enable") return pick("POST", {{"POST", AdminRoute::kEnable}});

    t.route = AdminRoute::kNotFound;
    return t;
}

bool admin_route_is_public(AdminRoute route) noexcept {
    return route == AdminRoute::kPage || route == AdminRoute::kOpenApi ||
           route == AdminRoute::kMethodNotAllowed;
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// "application/json", any case, alone or before parameters (RFC 9110 8.3.1).
bool is_json_media_type(std::string_view v) noexcept {
    std::size_t end = v.find_first_of("; \t");
    return iequals(v.substr(0, end), "application/json");
}

}  // namespace

AdminGuard admin_guard(const AdminRequestHeaders& h) noexcept {
    // RFC 6454: an origin is scheme, host and port; the Host header carries
    // the last two as the browser addressed them, so "scheme://Host" is this
    // location's own origin
    if (h.origins > 1) {
        return {403, "more than one Origin header"};
    }
    if (h.origins == 1) {
        std::string_view o = h.origin;
        std::size_t sep = o.find("://");
        if (sep == std::string_view::npos || !iequals(o.substr(0, sep), h.scheme) ||
            !iequals(o.substr(sep + 3), h.host) || h.host.empty())
        {
            return {403, "a request from another origin is refused (Origin)"};
        }
    }
    if (h.sec_fetch_site == "cross-site" || h.sec_fetch_site == "same-site") {
        return {403, "a request from another site is refused (Sec-Fetch-Site)"};
    }

    bool changes = h.method == "POST" || h.method == "PUT" || h.method == "PATCH" ||
                   h.method == "DELETE";
    if (changes && !is_json_media_type(h.content_type)) {
        // an HTML form can send text/plain, urlencoded or multipart bodies
        // cross-site without a preflight; it cannot send application/json
        return {415, "a request that changes keys must have \"Content-Type: application/json\" "
                     "(send {} when there is nothing to say)"};
    }
    return {};
}

namespace {

std::string base64(const unsigned char* data, std::size_t len) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < len; i += 3) {
        std::uint32_t n = static_cast<std::uint32_t>(data[i]) << 16;
        if (i + 1 < len) n |= static_cast<std::uint32_t>(data[i + 1]) << 8;
        if (i + 2 < len) n |= data[i + 2];
        out.push_back(kAlphabet[n >> 18 & 63]);
        out.push_back(kAlphabet[n >> 12 & 63]);
        out.push_back(i + 1 < len ? kAlphabet[n >> 6 & 63] : '=');
        out.push_back(i + 2 < len ? kAlphabet[n & 63] : '=');
    }
    return out;
}

// 'sha256-...' for the content of every <tag>...</tag> of the page
std::string hash_sources(std::string_view page, std::string_view tag) {
    std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
    std::string out;
    std::size_t at = 0;
    while ((at = page.find(open, at)) != std::string_view::npos) {
        std::size_t begin = at + open.size(), end = page.find(close, begin);
        if (end == std::string_view::npos) break;
        std::string_view body = page.substr(begin, end - begin);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_Digest(body.data(), body.size(), md, &len, EVP_sha256(), nullptr) != 1) {
            return "'none'";
        }
        out += " 'sha256-" + base64(md, len) + "'";
        at = end + close.size();
    }
    return out.empty() ? " 'none'" : out;
}

}  // namespace

std::string admin_page_csp(std::string_view page) {
    // connect-src 'self': the page talks to its own API and nothing else;
    // frame-ancestors 'none': no other page may frame it (clickjacking)
    return "default-src 'none'; script-src" + hash_sources(page, "script") +
           "; style-src" + hash_sources(page, "style") +
           "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
           "frame-ancestors 'none'";
}

std::string_view admin_mode(AdminRoute route) noexcept {
    switch (route) {
    case AdminRoute::kList: return "page";   // the sorted indexes, not a SCAN
    case AdminRoute::kCreate: return "create";
    case AdminRoute::kGet: return "get";
    case AdminRoute::kUpdate: return "update";
    case AdminRoute::kRotate: return "rotate";
    case AdminRoute::kRevoke: return "revoke";
    case AdminRoute::kDelete: return "delete";
    case AdminRoute::kAudit: return "audit";
    case AdminRoute::kUsage: return "usage";
    case AdminRoute::kResetLimits: return "reset_limits";
    case AdminRoute::kCredits: return "credits";
    case AdminRoute::kDisable: return "disable";
    case AdminRoute::kEnable: return "enable";
    case AdminRoute::kOwnerRevoke: return "owner_revoke";
    case AdminRoute::kRoleList: return "role_list";
    case AdminRoute::kRoleCreate: return "role_create";
    case AdminRoute::kRoleGet: return "role_get";
    case AdminRoute::kRoleUpdate: return "role_update";
    case AdminRoute::kRoleDelete: return "role_delete";
    case AdminRoute::kPlanList: return "plan_list";
    case AdminRoute::kPlanCreate: return "plan_create";
    case AdminRoute::kPlanGet: return "plan_get";
    case AdminRoute::kPlanUpdate: return "plan_update";
    case AdminRoute::kPlanDelete: return "plan_delete";
    default: return "";
    }
}

std::string_view admin_action(AdminRoute route) noexcept {
    switch (route) {
    case AdminRoute::kCreate:
    case AdminRoute::kUpdate:
    case AdminRoute::kRotate:
    case AdminRoute::kRevoke:
    case AdminRoute::kDelete:
    case AdminRoute::kDisable:
    case AdminRoute::kEnable:
    case AdminRoute::kRoleCreate:
    case AdminRoute::kRoleUpdate:
    case AdminRoute::kRoleDelete:
    case AdminRoute::kPlanCreate:
    case AdminRoute::kPlanUpdate:
    case AdminRoute::kPlanDelete:
    case AdminRoute::kResetLimits:
    case AdminRoute::kCredits:
        return admin_mode(route);   // the changes: logged under their own name
    case AdminRoute::kOwnerRevoke:
        return "revoke";            // one revoke event per key, as apikeyctl revoke --owner
    default:
        return "";
    }
}

bool admin_has_body(AdminRoute route) noexcept {
    return route == AdminRoute::kCreate || route == AdminRoute::kUpdate ||
           route == AdminRoute::kRotate || route == AdminRoute::kRevoke ||
           route == AdminRoute::kResetLimits || route == AdminRoute::kCredits ||
           route == AdminRoute::kDisable || route == AdminRoute::kEnable ||
           route == AdminRoute::kOwnerRevoke || route == AdminRoute::kRoleCreate ||
           route == AdminRoute::kRoleUpdate || route == AdminRoute::kPlanCreate ||
           route == AdminRoute::kPlanUpdate;
}

std::string_view admin_group_kind(AdminRoute route) noexcept {
    switch (route) {
    case AdminRoute::kRoleList:
    case AdminRoute::kRoleCreate:
    case AdminRoute::kRoleGet:
    case AdminRoute::kRoleUpdate:
    case AdminRoute::kRoleDelete:
        return "role";
    case AdminRoute::kPlanList:
    case AdminRoute::kPlanCreate:
    case AdminRoute::kPlanGet:
    case AdminRoute::kPlanUpdate:
    case AdminRoute::kPlanDelete:
        return "plan";
    default:
        return "";
    }
}

namespace {

std::string expect_string(const JsonValue& v, const char* name, std::string& out) {
    if (v.type != JsonValue::Type::kString) return std::string("\"") + name + "\" must be a string";
    out = v.string;
    return {};
}

std::string duration_member(const JsonValue& v, const char* name, bool never_ok,
                            std::int64_t& out) {
    std::string text;
    if (auto e = expect_string(v, name, text); !e.empty()) return e;
    if (never_ok && text == "never") {
        out = 0;
        return {};
    }
    if (!never_ok && text == "0") {
        out = 0;
        return {};
    }
    auto seconds = parse_duration(text);
    if (!seconds) {
        return std::string("invalid \"") + name + "\" \"" + text +
               "\" (examples: 30d, 12h, 1h30m, 2w" + (never_ok ? ", never)" : ")");
    }
    out = *seconds;
    return {};
}

std::string string_list(const JsonValue& v, const char* name, std::vector<std::string>& out) {
    if (v.type != JsonValue::Type::kArray) {
        return std::string("\"") + name + "\" must be an array of strings";
    }
    for (const auto& item : v.array) {
        if (item.type != JsonValue::Type::kString) {
            return std::string("\"") + name + "\" must be an array of strings";
        }
        out.push_back(item.string);
    }
    return {};
}

// A whole JSON number from `min` to kMaxCredits (JSON has only doubles:
// 10^12 and below are exact).
std::string credit_number(const JsonValue& v, const char* name, std::int64_t min,
                          std::optional<std::int64_t>& out) {
    if (v.type != JsonValue::Type::kNumber || std::floor(v.number) != v.number ||
        v.number < static_cast<double>(min) || v.number > static_cast<double>(kMaxCredits)) {
        return std::string("\"") + name + "\" must be a whole number from " + std::to_string(min) +
               " to " + std::to_string(kMaxCredits);
    }
    out = static_cast<std::int64_t>(v.number);
    return {};
}

}  // namespace

std::string parse_key_changes(AdminRoute route, std::string_view body, KeyChanges& out) {
    out = KeyChanges{};

    // revoke, rotate, disable and enable may come without a body
    bool trimmed_empty = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
    bool optional_body = route == AdminRoute::kRevoke || route == AdminRoute::kRotate ||
                         route == AdminRoute::kDisable || route == AdminRoute::kEnable ||
                         route == AdminRoute::kOwnerRevoke || route == AdminRoute::kResetLimits;
    if (trimmed_empty && optional_body) {
        return {};
    }

    std::string error;
    auto doc = parse_json(body, error);
    if (!doc) return "malformed JSON: " + error;
    if (doc->type != JsonValue::Type::kObject) return "the body must be a JSON object";

    for (const auto& [key, v] : doc->object) {
        bool keyish = route == AdminRoute::kCreate || route == AdminRoute::kUpdate;
        std::string problem;

        if (key == "reason") {
            problem = expect_string(v, "reason", out.reason);
            if (problem.empty() && !reason_problem(out.reason).empty()) {
                problem = "invalid \"reason\": " + reason_problem(out.reason);
            }

        } else if (keyish && key == "name") {
            std::string name;
            problem = expect_string(v, "name", name);
            if (problem.empty() && !valid_key_name(name)) {
                problem = "invalid \"name\": 1 to 128 characters, no control characters (" +
                          name_problem(name) + ")";
            }
            out.name = name;

        } else if (keyish && key == "scopes") {
            std::vector<std::string> scopes;
            problem = string_list(v, "scopes", scopes);
            for (const auto& s : scopes) {
                if (problem.empty() && !valid_scope(s)) {
                    problem = "invalid scope \"" + s +
                              "\": printable ASCII without spaces, quotes or backslashes, at "
                              "most 128 characters";
                }
            }
            out.scopes = join_scopes(scopes);

        } else if (keyish && key == "expires_in") {
            std::int64_t seconds = 0;
            problem = duration_member(v, "expires_in", true, seconds);
            out.expires_in = seconds;

        } else if (keyish && key == "limits") {
            std::vector<std::string> items;
            std::vector<Limit> limits;
            problem = string_list(v, "limits", items);
            for (const auto& item : items) {
                std::string e;
                auto l = parse_limit(item, e);
                if (problem.empty() && !l) problem = e;
                if (l) limits.push_back(*l);
            }
            if (problem.empty() && limits.size() > 8) problem = "at most 8 limits per key";
            out.limits = format_limit_list(limits);

        } else if (keyish && (key == "owner" || key == "role" || key == "plan")) {
            // null removes it (PATCH); a role or plan must exist, which the
            // admin script checks as it copies its scopes or limits
            std::string value;
            bool remove = v.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate;
            if (!remove) problem = expect_string(v, key.c_str(), value);
            bool ok = key == "owner" ? valid_owner(value) : valid_group_name(value);
            if (problem.empty() && !remove && !ok) {
                problem = key == "owner"
                              ? "invalid \"owner\": 1 to 128 of A-Z a-z 0-9 _ . : @ -"
                              : "invalid \"" + key + "\": a-z and 0-9, then also _ . -, at most 64";
            }
            (key == "owner" ? out.owner : key == "role" ? out.role : out.plan) = value;

        } else if (route == AdminRoute::kCreate && key == "env") {
            // a key's environment is its token's prefix: fixed at creation
            std::string value;
            problem = expect_string(v, "env", value);
            if (problem.empty() && value != "live" && value != "test") {
                problem = "\"env\" must be live or test";
            }
            out.env = value;

        } else if (keyish && key == "meta") {
            // an object of strings; on PATCH a null value removes one name
            // and the others are kept (the script merges)
            if (v.type != JsonValue::Type::kObject) {
                problem = "\"meta\" must be an object of strings";
            }
            for (const auto& [name, value] : v.object) {
                if (!problem.empty()) break;
                bool remove = value.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate;
                if (!remove && value.type != JsonValue::Type::kString) {
                    problem = "\"meta\" must be an object of strings";
                    break;
                }
                if (!remove && value.string.empty()) {
                    problem = "the value of meta \"" + name + "\" is empty (null removes it)";
                    break;
                }
                problem = meta_problem(name, remove ? "" : value.string);
                out.meta.emplace_back(name, remove ? "" : value.string);
            }
            if (problem.empty() && out.meta.size() > kMaxMeta) {
                problem = "at most 16 meta entries per key";
            }

        } else if (keyish && key == "allow_ip") {
            // CIDRs; [] or null on PATCH lifts the restriction
            std::vector<std::string> items;
            if (!(v.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate)) {
                problem = string_list(v, "allow_ip", items);
            }
            std::string joined;
            for (const auto& item : items) joined += (joined.empty() ? "" : " ") + item;
            if (problem.empty() && items.size() > kMaxAllowIp) {
                problem = "at most 32 \"allow_ip\" entries per key";
            }
            if (problem.empty() && !items.empty()) {
                std::string e;
                auto canonical = canonical_cidr_list(joined, &e);
                if (!canonical) problem = "invalid \"allow_ip\": " + e;
                else joined = *canonical;
            }
            if (problem.empty() && items.empty() && route == AdminRoute::kCreate) {
                problem = "\"allow_ip\" must not be empty (leave it out for any address)";
            }
            out.allow_ip = joined;

        } else if (keyish && key == "quota") {
            // a string as the record keeps it ("1000000/month 500/day");
            // null or "" removes the key's own (PATCH): the plan's applies
            bool remove = v.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate;
            std::string text;
            if (!remove) problem = expect_string(v, "quota", text);
            if (problem.empty() && !text.empty()) {
                std::string e;
                auto list = parse_quota_list(text, e);
                if (!list) problem = "invalid \"quota\": " + e;
                else text = format_quota_list(*list);
            }
            if (problem.empty() && text.empty() && route == AdminRoute::kCreate) {
                problem = "\"quota\" must not be empty (leave it out for none)";
            }
            out.quota = text;

        } else if (keyish && key == "credits") {
            // a whole number 0..10^12; null removes credits (and the
            // refill): unlimited uses again
            if (v.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate) {
                out.no_credits = true;
            } else {
                problem = credit_number(v, "credits", 0, out.credits);
            }

        } else if (keyish && key == "refill") {
            bool remove = v.type == JsonValue::Type::kNull && route == AdminRoute::kUpdate;
            std::string text;
            if (!remove) problem = expect_string(v, "refill", text);
            if (problem.empty() && !remove) {
                std::string e;
                auto r = parse_refill(text, e);
                if (!r) problem = "invalid \"refill\": " + e;
                else text = r->to_string();
            }
            out.refill = text;

        } else if (route == AdminRoute::kRotate && key == "grace") {
            problem = duration_member(v, "grace", false, out.grace);

        } else {
            problem = "unknown member \"" + key + "\"";
        }

        if (!problem.empty()) return problem;
    }

    if (route == AdminRoute::kCreate && !out.name) return "\"name\" is required";
    if (out.no_credits && out.refill && !out.refill->empty()) {
        return "\"credits\": null removes the refill too; it cannot go with \"refill\"";
    }
    if (route == AdminRoute::kUpdate && !out.name && !out.scopes && !out.expires_in &&
        !out.limits && !out.owner && !out.role && !out.plan && out.meta.empty() && !out.allow_ip &&
        !out.quota && !out.credits && !out.no_credits && !out.refill)
    {
        return "nothing to change: give \"name\", \"scopes\", \"expires_in\", \"limits\", "
               "\"owner\", \"role\", \"plan\", \"meta\", \"allow_ip\", \"quota\", "
               "\"credits\" or \"refill\"";
    }
    return {};
}

std::string parse_group_changes(AdminRoute route, std::string_view body, std::string& name,
                                GroupChanges& out) {
    out = GroupChanges{};
    bool role = admin_group_kind(route) == "role";
    bool create = route == AdminRoute::kRoleCreate || route == AdminRoute::kPlanCreate;
    const char* item = role ? "scopes" : "limits";

    std::string error;
    auto doc = parse_json(body, error);
    if (!doc) return "malformed JSON: " + error;
    if (doc->type != JsonValue::Type::kObject) return "the body must be a JSON object";

    for (const auto& [key, v] : doc->object) {
        std::string problem;
        if (create && key == "name") {
            problem = expect_string(v, "name", name);
            if (problem.empty() && !valid_group_name(name)) {
                problem = "invalid \"name\": a-z and 0-9, then also _ . -, at most 64";
            }
        } else if (key == item) {
            // the same checks as apikeyctl role/plan create
            std::vector<std::string> items;
            problem = string_list(v, item, items);
            if (role) {
                for (const auto& s : items) {
                    if (problem.empty() && !valid_scope(s)) {
                        problem = "invalid scope \"" + s +
                                  "\": printable ASCII without spaces, quotes or backslashes, "
                                  "at most 128 characters";
                    }
                }
                out.value = join_scopes(items);
            } else {
                std::vector<Limit> limits;
                for (const auto& text : items) {
                    std::string e;
                    auto l = parse_limit(text, e);
                    if (problem.empty() && !l) problem = e;
                    if (l) limits.push_back(*l);
                }
                if (problem.empty() && limits.size() > 8) problem = "at most 8 limits per plan";
                out.value = format_limit_list(limits);
            }
        } else if (!role && key == "quota") {
            // as a key's: a string ("1000000/month 500/day"); null or ""
            // on PATCH removes it
            std::string text;
            bool remove = v.type == JsonValue::Type::kNull && !create;
            if (!remove) problem = expect_string(v, "quota", text);
            if (problem.empty() && !text.empty()) {
                std::string e;
                auto list = parse_quota_list(text, e);
                if (!list) problem = "invalid \"quota\": " + e;
                else text = format_quota_list(*list);
            }
            out.quota = text;
        } else if (key == "description") {
            std::string d;
            problem = expect_string(v, "description", d);
            if (problem.empty() && !description_problem(d).empty()) {
                problem = "invalid \"description\": " + description_problem(d);
            }
            out.description = d;
        } else {
            problem = "unknown member \"" + key + "\"";
        }
        if (!problem.empty()) return problem;
    }

    if (create && name.empty()) return "\"name\" is required";
    // a plan may hold only a quota
    if (create && !out.value && !(out.quota && !out.quota->empty())) {
        return std::string("\"") + item + "\" is required" + (role ? "" : " (or \"quota\")");
    }
    if (!create && !out.value && !out.description && !out.quota) {
        return std::string("nothing to change: give \"") + item + "\"" +
               (role ? "" : ", \"quota\"") + " or \"description\"";
    }
    return {};
}

std::string parse_list_query(std::string_view query, ListQuery& out) {
    out = ListQuery{};
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;

        std::size_t eq = pair.find('=');
        std::string name(pair.substr(0, eq)), value;
        std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
        if (!percent_decode(raw, value, true)) {
            return "invalid escape in the query string";
        }

        if (name == "status") {
            if (value != "active" && value != "revoked" && value != "expired" &&
                value != "disabled") {
                return "\"status\" must be active, revoked, expired or disabled";
            }
            out.status = value;
        } else if (name == "owner") {
            if (!valid_owner(value)) return "invalid \"owner\"";
            out.owner = value;
        } else if (name == "role" || name == "plan") {
            if (!valid_group_name(value)) return "invalid \"" + name + "\"";
            (name == "role" ? out.role : out.plan) = value;
        } else if (name == "env") {
            if (value != "live" && value != "test") return "\"env\" must be live or test";
            out.env = value;
        } else if (name == "sort") {
            if (!valid_sort(value)) return "\"sort\" must be created, name, last_used or expires";
            out.sort = value;
        } else if (name == "order") {
            if (value != "asc" && value != "desc") return "\"order\" must be asc or desc";
            out.ascending = value == "asc";
        } else if (name == "search") {
            if (value.size() > kMaxNameLength || !text_problem(value, false).empty()) {
                return "invalid \"search\"";
            }
            out.search = value;
        } else if (name == "name_prefix") {
            // as the OpenAPI schema says: 1 to 128 characters, like a name
            std::size_t chars = utf8_length(value);
            if (chars < 1 || chars > kMaxNameLength) {
                return "\"name_prefix\" must be 1 to 128 characters";
            }
            out.name_prefix = value;
        } else if (name == "expiring_within" || name == "unused_since") {
            auto seconds = parse_duration(value);
            if (!seconds) return "invalid \"" + name + "\" \"" + value + "\" (examples: 14d, 30d)";
            (name == "expiring_within" ? out.expiring_within : out.unused_since) = *seconds;
        } else if (name == "limit") {
            auto n = parse_decimal(value);
            if (!n || *n < 1 || *n > 200) return "\"limit\" must be between 1 and 200";
            out.limit = static_cast<std::size_t>(*n);
        } else if (name == "cursor") {
            // the next_cursor of the previous page: where the index walk goes
            // on; "0", the start of the SCAN list this one replaced, still
            // means the first page
            if (value != "0" && !valid_page_cursor(value)) return "invalid \"cursor\"";
            out.after = value == "0" ? "" : value;
        } else {
            return "unknown parameter \"" + name + "\"";
        }
    }
    return {};
}

bool sort_ascending_by_default(std::string_view sort) noexcept {
    return sort == "name" || sort == "expires";
}

bool valid_sort(std::string_view sort) noexcept {
    return sort == "created" || sort == "name" || sort == "last_used" || sort == "expires";
}

bool valid_page_cursor(std::string_view c) noexcept {
    if (c.empty() || c.size() > 1024) return false;
    std::size_t colon = c.find(':');
    if (colon == std::string_view::npos) {   // name: hex of the index member
        if (c.size() % 2 != 0) return false;
        for (char ch : c) {
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
        }
        return true;
    }
    std::string_view score = c.substr(0, colon), id = c.substr(colon + 1);
    if (score != "inf" && !parse_decimal(score)) return false;
    return valid_key_id(id) || (!id.empty() && id.size() <= 64 &&
                                id.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz") ==
                                    std::string_view::npos);
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::vector<std::string> page_arguments(const ListQuery& q, std::size_t page_size,
                                        std::int64_t now) {
    bool asc = q.ascending.value_or(sort_ascending_by_default(q.sort));
    return {q.sort,
            asc ? "asc" : "desc",
            std::to_string(page_size),
            q.after,
            std::to_string(now),
            std::to_string(kPageBudget),
            q.status.value_or(""),
            q.owner.value_or(""),
            q.role.value_or(""),
            q.plan.value_or(""),
            q.env.value_or(""),
            lower_ascii(q.search)};
}

namespace {

std::string name_member(const KeyRecord& r) {
    return lower_ascii(r.name) + std::string(1, '\0') + r.id;
}

std::int64_t score_of(const KeyRecord& r, std::string_view sort) {
    if (sort == "last_used") return r.last_used;
    if (sort == "expires") return r.expires > 0 ? r.expires : INT64_MAX;   // never: +inf
    return r.created;
}

}  // namespace

std::string page_cursor(const KeyRecord& r, std::string_view sort) {
    if (sort == "name") {
        static const char digits[] = "0123456789abcdef";
        std::string out;
        for (unsigned char c : name_member(r)) {
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
        return out;
    }
    std::int64_t score = score_of(r, sort);
    return (score == INT64_MAX ? std::string("inf") : std::to_string(score)) + ":" + r.id;
}

void sort_for_page(std::vector<KeyRecord>& records, const ListQuery& q) {
    bool asc = q.ascending.value_or(sort_ascending_by_default(q.sort));
    auto less = [&](const KeyRecord& a, const KeyRecord& b) {
        if (q.sort == "name") return name_member(a) < name_member(b);
        std::int64_t sa = score_of(a, q.sort), sb = score_of(b, q.sort);
        return sa != sb ? sa < sb : a.id < b.id;
    };
    std::sort(records.begin(), records.end(), [&](const KeyRecord& a, const KeyRecord& b) {
        return asc ? less(a, b) : less(b, a);
    });
}

bool follows_cursor(const KeyRecord& r, const ListQuery& q) {
    if (q.after.empty()) return true;
    bool asc = q.ascending.value_or(sort_ascending_by_default(q.sort));
    std::string mine = page_cursor(r, q.sort);
    bool greater;
    if (q.sort == "name") {
        // hex of the member keeps its byte order
        greater = mine > q.after;
    } else {
        auto split = [](const std::string& c) {
            std::size_t colon = c.find(':');
            std::string score = c.substr(0, colon);
            std::int64_t n = score == "inf" ? INT64_MAX : parse_decimal(score).value_or(0);
            return std::make_pair(n, c.substr(colon + 1));
        };
        greater = split(mine) > split(q.after);
    }
    return asc ? greater : (mine != q.after && !greater);
}

std::vector<std::string> group_arguments(const GroupChanges& c, std::int64_t now) {
    std::vector<std::string> out{c.value.value_or(""), c.description ? "1" : "0",
                                 c.description.value_or(""), std::to_string(now),
                                 c.value ? "1" : "0"};
    // a plan's quota: ARGV[14] "1", ARGV[15] the text (absent: kept)
    if (c.quota) out.insert(out.end(), {"1", *c.quota});
    return out;
}

std::string description_problem(std::string_view d) {
    if (d.size() > 1024) return "too long (at most 1024 bytes)";
    return reason_problem(d);
}

std::string meta_problem(std::string_view name, std::string_view value) {
    // meta.hpp's rules, the ones record decoding and the module apply
    if (!valid_meta_name(name)) {
        return "invalid meta name \"" + std::string(name) + "\": 1 to 32 of a-z, 0-9 and _";
    }
    if (value.empty()) return {};   // removes (update)
    std::string problem = meta_value_problem(value);
    if (!problem.empty()) {
        if (value.size() > kMaxMetaValue) {
            return "the value of meta \"" + std::string(name) + "\" is too long (at most 256 bytes)";
        }
        return "invalid value of meta \"" + std::string(name) + "\": " + problem;
    }
    return {};
}

std::string meta_json(const std::vector<std::pair<std::string, std::string>>& meta) {
    std::map<std::string, std::string> sorted;
    for (const auto& [name, value] : meta) sorted[name] = value;
    if (sorted.empty()) return {};
    JsonObject json;
    for (const auto& [name, value] : sorted) json.field(name, value);
    return json.str();
}

std::vector<std::string> model_fields(const KeyChanges& c, bool create) {
    std::vector<std::string> out;
    if (c.owner) out.insert(out.end(), {"owner", *c.owner});
    if (c.role) out.insert(out.end(), {"role", *c.role});
    if (c.plan) out.insert(out.end(), {"plan", *c.plan});
    if (c.env) out.insert(out.end(), {"env", *c.env});
    if (c.allow_ip) out.insert(out.end(), {"allow_ip", *c.allow_ip});
    if (create) {
        std::vector<std::pair<std::string, std::string>> kept;
        for (const auto& m : c.meta) {
            if (!m.second.empty()) kept.push_back(m);
        }
        if (!kept.empty()) out.insert(out.end(), {"meta", meta_json(kept)});
    } else if (!c.meta.empty()) {
        // "" values stay: they remove a name in the script's merge
        std::map<std::string, std::string> sorted(c.meta.begin(), c.meta.end());
        for (const auto& m : c.meta) sorted[m.first] = m.second;
        JsonObject json;
        for (const auto& [name, value] : sorted) json.field(name, value);
        out.insert(out.end(), {"meta_patch", json.str()});
    }
    return out;
}

bool list_matches(const KeyRecord& r, const ListQuery& q, std::int64_t now) noexcept {
    std::string_view status = r.effective_status(now);
    if (q.status && status != *q.status) return false;
    if (q.owner && r.owner != *q.owner) return false;
    if (q.role && r.role != *q.role) return false;
    if (q.plan && r.plan != *q.plan) return false;
    if (q.env && r.effective_env() != *q.env) return false;
    if (!q.search.empty() && lower_ascii(r.name).find(lower_ascii(q.search)) == std::string::npos) {
        return false;
    }
    if (r.name.compare(0, q.name_prefix.size(), q.name_prefix) != 0) return false;
    // about to expire: still active, expiring within the window
    if (q.expiring_within &&
        !(status == "active" && r.expires > 0 && r.expires <= now + *q.expiring_within)) {
        return false;
    }
    // not used since: last used before the cutoff, or never used and created
    // before it (a key minted yesterday is not "unused for 30 days")
    if (q.unused_since) {
        std::int64_t cutoff = now - *q.unused_since;
        if (r.last_used > 0 ? r.last_used >= cutoff : r.created >= cutoff) return false;
    }
    return true;
}

KeyRecord new_key_record(const KeyChanges& c, std::string id, std::string digest,
                         std::string hint, std::int64_t now) {
    KeyRecord r;
    r.id = std::move(id);
    r.digest = std::move(digest);
    r.hint = std::move(hint);
    r.status = "active";
    r.created = r.updated = now;
    r.name = c.name.value_or("");
    r.scopes = c.scopes.value_or("");
    r.limits = c.limits.value_or("");
    std::int64_t expires_in = c.expires_in.value_or(90 * 86400);
    r.expires = expires_in > 0 ? now + expires_in : 0;
    // the key model: record_fields writes what is set (the admin script
    // checks a role or plan and takes its copy)
    r.owner = c.owner.value_or("");
    r.role = c.role.value_or("");
    r.plan = c.plan.value_or("");
    r.env = c.env.value_or("");
    r.allow_ip = c.allow_ip.value_or("");
    std::vector<std::pair<std::string, std::string>> meta;
    for (const auto& m : c.meta) {
        if (!m.second.empty()) meta.push_back(m);
    }
    r.meta = meta_json(meta);
    r.quota = c.quota.value_or("");
    if (c.credits) r.credits = r.credits_granted = *c.credits;
    std::string ignored;
    if (auto refill = parse_refill(c.refill.value_or(""), ignored)) {
        r.refill = refill->to_string();
        r.refilled = period_span(refill->period, now).start;
        if (!c.credits) r.credits = r.credits_granted = refill->count;
    }
    return r;
}

void apply_changes(KeyRecord& r, const KeyChanges& c, std::int64_t now) {
    if (c.name) r.name = *c.name;
    if (c.scopes) r.scopes = *c.scopes;
    if (c.limits) r.limits = *c.limits;
    if (c.expires_in) r.expires = *c.expires_in > 0 ? now + *c.expires_in : 0;
    r.updated = now;
}

std::vector<std::string> changed_fields(const KeyChanges& c, std::int64_t now) {
    KeyRecord changed;
    apply_changes(changed, c, now);
    std::vector<std::string> out;
    if (c.name) out.insert(out.end(), {"name", changed.name});
    if (c.scopes) out.insert(out.end(), {"scopes", changed.scopes});
    if (c.limits) out.insert(out.end(), {"limits", changed.limits});
    if (c.expires_in) out.insert(out.end(), {"expires", std::to_string(changed.expires)});
    for (auto& f : quota_fields(c, now)) out.push_back(std::move(f));
    out.insert(out.end(), {"updated", std::to_string(now)});
    return out;
}

std::vector<std::string> quota_fields(const KeyChanges& c, std::int64_t now) {
    std::vector<std::string> out;
    if (c.quota) out.insert(out.end(), {"quota", *c.quota});
    if (c.no_credits) {
        out.insert(out.end(), {"credits", "", "credits_granted", "", "refill", "", "refilled", ""});
    }
    if (c.credits) {
        std::string n = std::to_string(*c.credits);
        out.insert(out.end(), {"credits", n, "credits_granted", n});
    }
    if (c.refill) {
        std::string ignored;
        if (auto refill = parse_refill(*c.refill, ignored)) {
            out.insert(out.end(), {"refill", refill->to_string(), "refilled",
                                   std::to_string(period_span(refill->period, now).start)});
        } else {
            out.insert(out.end(), {"refill", "", "refilled", ""});
        }
    }
    return out;
}

std::optional<std::string> checked_quota_items(const std::vector<std::string>& items,
                                               std::string& error) {
    std::string joined;
    for (const auto& item : items) {
        if (item.empty() || item.find(' ') != std::string::npos) {
            error = "quota \"" + item + "\": expected N/day, N/week or N/month";
            return std::nullopt;
        }
        joined += (joined.empty() ? "" : " ") + item;
    }
    auto list = parse_quota_list(joined, error);
    if (!list) return std::nullopt;
    return format_quota_list(*list);
}

std::string parse_credit_change(std::string_view body, CreditChange& out) {
    out = CreditChange{};
    std::string error;
    auto doc = parse_json(body, error);
    if (!doc) return "malformed JSON: " + error;
    if (doc->type != JsonValue::Type::kObject) return "the body must be a JSON object";
    bool set = false, add = false;
    for (const auto& [key, v] : doc->object) {
        std::string problem;
        std::optional<std::int64_t> n;
        if (key == "set") {
            problem = credit_number(v, "set", 0, n);
            set = true;
        } else if (key == "add") {
            problem = credit_number(v, "add", -kMaxCredits, n);
            add = true;
        } else if (key == "reason") {
            problem = expect_string(v, "reason", out.reason);
            if (problem.empty() && !reason_problem(out.reason).empty()) {
                problem = "invalid \"reason\": " + reason_problem(out.reason);
            }
        } else {
            problem = "unknown member \"" + key + "\"";
        }
        if (!problem.empty()) return problem;
        if (n) out.amount = *n;
    }
    if (set == add) return "give one of \"set\" or \"add\"";
    out.add = add;
    return {};
}

std::vector<std::string> credit_arguments(const CreditChange& c, std::int64_t now) {
    return {c.add ? "add" : "set", std::to_string(c.amount), std::to_string(now)};
}

std::string audit_json(const AuditEvent& e) {
    JsonObject json;
    json.field("time", format_utc(e.time))
        .field("id", e.key_id)
        .field("action", e.action)
        .field("user", e.user)
        .field("reason", e.reason)
        .field("via", e.via);
    return json.str();
}

std::string admin_error(std::string_view code, std::string_view message) {
    JsonObject json;
    json.field("error", code).field("message", message);
    return json.str() + "\n";
}

}  // namespace apikey
