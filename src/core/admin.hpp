// Key management over HTTP (apikey_admin): routes, request bodies, query
// strings and the list filter, with no nginx dependency. The records, their
// JSON and the list filter are the same the CLI uses, so the two never disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "record.hpp"

namespace apikey {

inline constexpr std::size_t kMaxAdminBody = 16 * 1024;

enum class AdminRoute {
    kPage,         // GET /            the "API Keys" page
    kOpenApi,      // GET keys/openapi.json
    kList,         // GET keys
    kCreate,       // POST keys
    kGet,          // GET keys/{id}
    kUpdate,       // PATCH keys/{id}
    kRotate,       // POST keys/{id}/rotate
    kRevoke,       // POST keys/{id}/revoke
    kDelete,       // DELETE keys/{id}
    kAudit,        // GET keys/{id}/audit
    kNotFound,
    kMethodNotAllowed,
};

struct AdminTarget {
    AdminRoute route = AdminRoute::kNotFound;
    std::string_view id;
    std::string_view allow;   // the path's methods, for a 405's Allow header
};

// `path` is what follows the admin location's prefix ("", "keys", "keys/abc/rotate").
AdminTarget admin_route(std::string_view method, std::string_view path) noexcept;

// True for what the admin location serves to anyone (the page, its OpenAPI
// document, and 405s, which change nothing): the key check is not run for them.
bool admin_route_is_public(AdminRoute route) noexcept;

// Cross-site request forgery. A browser sends cached Basic credentials and
// client certificates with any request a foreign page makes, but a foreign
// page can only send a JSON Content-Type after a CORS preflight (which this
// API never answers) and cannot forge Origin or Sec-Fetch-Site.
struct AdminRequestHeaders {
    std::string_view method;
    std::string_view content_type;
    std::string_view origin;            // empty when absent
    std::size_t origins = 0;            // how many Origin headers came
    std::string_view sec_fetch_site;    // empty when absent
    std::string_view scheme;            // the connection's: "http" or "https"
    std::string_view host;              // the Host header, as sent
};

struct AdminGuard {
    int status = 0;                     // 0: go on; 403 or 415: refuse
    std::string_view message;
};

AdminGuard admin_guard(const AdminRequestHeaders& h) noexcept;

// The page's Content-Security-Policy: every inline <script> and <style>
// allowed by its SHA-256 (CSP Level 2 hash sources), nothing else inline.
std::string admin_page_csp(std::string_view page);

// What the admin script is asked to do for a route ("" for routes that need
// no Redis), the audit stream's action word ("" for reads), and whether the
// route takes a JSON body.
std::string_view admin_mode(AdminRoute route) noexcept;
std::string_view admin_action(AdminRoute route) noexcept;
bool admin_has_body(AdminRoute route) noexcept;

// A request body, validated. Absent members keep their "unset" value.
struct KeyChanges {
    std::optional<std::string> name;
    std::optional<std::string> scopes;     // joined, validated
    std::optional<std::int64_t> expires_in;   // seconds; 0 = never
    std::optional<std::string> limits;     // formatted, validated
    std::int64_t grace = 0;                // rotate only
    std::string reason;
};

// Parses and validates the body of create, update, rotate or revoke. Unknown
// members are refused (a typo must not be silently ignored). Returns an error
// message, or an empty string when the body is fine.
std::string parse_key_changes(AdminRoute route, std::string_view body, KeyChanges& out);

// GET keys: filters and paging from the query string.
struct ListQuery {
    std::optional<std::string> status;         // active, revoked, expired
    std::string name_prefix;
    std::optional<std::int64_t> expiring_within;   // seconds
    std::optional<std::int64_t> unused_since;      // seconds
    std::optional<std::size_t> limit;          // unset: 50 keys a page, 100 audit events
    std::string cursor = "0";                  // Redis SCAN cursor
};

std::string parse_list_query(std::string_view query, ListQuery& out);

// The list filter shared with `apikeyctl list`.
bool list_matches(const KeyRecord& r, const ListQuery& q, std::int64_t now) noexcept;

// A new key's record, as apikeyctl create and POST keys make it.
KeyRecord new_key_record(const KeyChanges& changes, std::string id, std::string digest,
                         std::string hint, std::int64_t now);

// Applies changes to a record (PATCH keys/{id}, apikeyctl update).
void apply_changes(KeyRecord& r, const KeyChanges& changes, std::int64_t now);

// The fields apply_changes would write, as field, value, ...: what the admin
// script's update and extend modes set, so that a change writes only what
// it changes (a concurrent revoke or rotate is not undone).
std::vector<std::string> changed_fields(const KeyChanges& changes, std::int64_t now);

// One audit event, as stored in <prefix>audit and as both interfaces print it.
struct AuditEvent {
    std::string stream_id;
    std::int64_t time = 0;
    std::string key_id;
    std::string action;
    std::string user;
    std::string reason;
    std::string via;
};

std::string audit_json(const AuditEvent& e);

// An error body: {"error":"...","message":"..."}
std::string admin_error(std::string_view code, std::string_view message);

}  // namespace apikey
