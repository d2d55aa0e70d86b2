#include "admin.hpp"

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include <openssl/evp.h>

#include "duration.hpp"
#include "json.hpp"
#include "json_parse.hpp"
#include "number.hpp"
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
    case AdminRoute::kList: return "list";
    case AdminRoute::kCreate: return "create";
    case AdminRoute::kGet: return "get";
    case AdminRoute::kUpdate: return "update";
    case AdminRoute::kRotate: return "rotate";
    case AdminRoute::kRevoke: return "revoke";
    case AdminRoute::kDelete: return "delete";
    case AdminRoute::kAudit: return "audit";
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
        return admin_mode(route);   // the changes: logged under their own name
    default:
        return "";
    }
}

bool admin_has_body(AdminRoute route) noexcept {
    return route == AdminRoute::kCreate || route == AdminRoute::kUpdate ||
           route == AdminRoute::kRotate || route == AdminRoute::kRevoke;
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

}  // namespace

std::string parse_key_changes(AdminRoute route, std::string_view body, KeyChanges& out) {
    out = KeyChanges{};

    // revoke and rotate may come without a body
    bool trimmed_empty = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (trimmed_empty && (route == AdminRoute::kRevoke || route == AdminRoute::kRotate)) {
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

        } else if (route == AdminRoute::kRotate && key == "grace") {
            problem = duration_member(v, "grace", false, out.grace);

        } else {
            problem = "unknown member \"" + key + "\"";
        }

        if (!problem.empty()) return problem;
    }

    if (route == AdminRoute::kCreate && !out.name) return "\"name\" is required";
    if (route == AdminRoute::kUpdate && !out.name && !out.scopes && !out.expires_in && !out.limits) {
        return "nothing to change: give \"name\", \"scopes\", \"expires_in\" or \"limits\"";
    }
    return {};
}

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// application/x-www-form-urlencoded value decoding; false on a bad escape.
bool url_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); i++) {
        if (in[i] == '+') {
            out.push_back(' ');
        } else if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;   // two hex digits must follow
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

}  // namespace

std::string parse_list_query(std::string_view query, ListQuery& out) {
    out = ListQuery{};
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;

        std::size_t eq = pair.find('=');
        std::string name(pair.substr(0, eq)), value;
        if (!url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), value)) {
            return "invalid escape in the query string";
        }

        if (name == "status") {
            if (value != "active" && value != "revoked" && value != "expired") {
                return "\"status\" must be active, revoked or expired";
            }
            out.status = value;
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
            if (!parse_decimal(value)) return "invalid \"cursor\"";
            out.cursor = value;
        } else {
            return "unknown parameter \"" + name + "\"";
        }
    }
    return {};
}

bool list_matches(const KeyRecord& r, const ListQuery& q, std::int64_t now) noexcept {
    std::string_view status = r.effective_status(now);
    if (q.status && status != *q.status) return false;
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
    out.insert(out.end(), {"updated", std::to_string(now)});
    return out;
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
