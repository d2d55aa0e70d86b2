// Key management over HTTP (apikey_admin): routes, request bodies, query
// strings and the list filter, with no nginx dependency. The records, their
// JSON and the list filter are the same the CLI uses, so the two never disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meta.hpp"
#include "record.hpp"
#include "text.hpp"

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
    kDisable,      // POST keys/{id}/disable
    kEnable,       // POST keys/{id}/enable
    kOwnerRevoke,  // POST owners/{owner}/revoke
    kRoleList,     // GET roles
    kRoleCreate,   // POST roles
    kRoleGet,      // GET roles/{name}
    kRoleUpdate,   // PATCH roles/{name}
    kRoleDelete,   // DELETE roles/{name}
    kPlanList,     // GET plans (and the same four for plans)
    kPlanCreate,
    kPlanGet,
    kPlanUpdate,
    kPlanDelete,
    kUsage,        // GET keys/{id}/usage   per-key usage (appended: the others keep their values)
    kResetLimits,  // POST keys/{id}/limits/reset
    kCredits,      // POST keys/{id}/credits   {"set":N} or {"add":N}
    kNotFound,
    kMethodNotAllowed,
};

struct AdminTarget {
    AdminRoute route = AdminRoute::kNotFound;
    std::string_view id;      // a key's id, a role's or plan's name, an owner
    std::string_view allow;   // the path's methods, for a 405's Allow header
};

// `path` is what follows the admin location's prefix ("", "keys", "keys/abc/rotate").
// A role or plan name must be valid_group_name, an owner valid_owner, else
// the path is not found.
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

// "role" or "plan" for the routes of roles and plans, else "".
std::string_view admin_group_kind(AdminRoute route) noexcept;

// A request body, validated. Absent members keep their "unset" value.
struct KeyChanges {
    std::optional<std::string> name;
    std::optional<std::string> scopes;     // joined, validated
    std::optional<std::int64_t> expires_in;   // seconds; 0 = never
    std::optional<std::string> limits;     // formatted, validated
    std::int64_t grace = 0;                // rotate only
    std::string reason;

    // The key model of issue 14. An empty owner, role, plan or allow_ip
    // removes it (update); a role or plan must exist (the admin script checks
    // it and copies its scopes or limits into the record).
    std::optional<std::string> owner;
    std::optional<std::string> role;
    std::optional<std::string> plan;
    std::optional<std::string> env;        // live | test; create only
    std::vector<std::pair<std::string, std::string>> meta;   // value "" removes (update)
    std::optional<std::string> allow_ip;   // canonical CIDRs, space separated

    // Calendar quotas and credits (quota.hpp). quota: format_quota_list's
    // text, "" removes it. credits: a grant, written to credits and
    // credits_granted; no_credits removes both with the refill (unlimited
    // uses again). refill: "N/day" or "N/month", "" removes it.
    std::optional<std::string> quota;
    std::optional<std::int64_t> credits;
    bool no_credits = false;
    std::optional<std::string> refill;
};

// The quota, credit and refill fields an update writes, as field, value, ...
// ("" removes a field in the admin script). A refill counts from the
// current period: refilled = its start, so the first refill comes at the
// next one. (A new key's are set by new_key_record, which also grants a
// refill's N when no credits are given.)
std::vector<std::string> quota_fields(const KeyChanges& changes, std::int64_t now);

// A list of quota items ("500/day", ...) as the stored field's text, or
// nullopt and `error` (at most 3, at most one per period).
std::optional<std::string> checked_quota_items(const std::vector<std::string>& items,
                                               std::string& error);

// POST keys/{id}/credits and apikeyctl credits --set/--add: set to N
// (0..kMaxCredits) or add N (negative allowed; the script refuses a result
// below 0 or above kMaxCredits).
struct CreditChange {
    bool add = false;
    std::int64_t amount = 0;
    std::string reason;
};
std::string parse_credit_change(std::string_view body, CreditChange& out);
// The credits mode's ARGV[9..]: set | add, N, now.
std::vector<std::string> credit_arguments(const CreditChange& change, std::int64_t now);

// Owners, role and plan names: valid_owner, valid_group_name (text.hpp).
// Meta names [a-z0-9_]{1,32}, values at most 256 bytes of UTF-8 without
// control characters, at most 16 per key.
inline constexpr std::size_t kMaxMeta = kMaxMetaEntries;
// What is wrong with one meta entry, or "" (an empty value is fine: it removes).
std::string meta_problem(std::string_view name, std::string_view value);
// {"name":"value",...} sorted by name, the last of a repeated name winning;
// "" for none.
std::string meta_json(const std::vector<std::pair<std::string, std::string>>& meta);

// The model fields of a change as field, value, ... for the admin script:
// create writes "meta" whole, update merges "meta_patch" (a value "" removes
// one name) in the script, so a concurrent change to another name is kept.
std::vector<std::string> model_fields(const KeyChanges& changes, bool create);

// Parses and validates the body of create, update, rotate or revoke. Unknown
// members are refused (a typo must not be silently ignored). Returns an error
// message, or an empty string when the body is fine.
std::string parse_key_changes(AdminRoute route, std::string_view body, KeyChanges& out);

// GET keys: filters and paging from the query string.
struct ListQuery {
    std::optional<std::string> status;         // active, revoked, expired, disabled
    std::string name_prefix;
    std::optional<std::int64_t> expiring_within;   // seconds
    std::optional<std::int64_t> unused_since;      // seconds
    std::optional<std::size_t> limit;          // unset: 50 keys a page, 100 audit events
    std::string cursor = "0";                  // Redis SCAN cursor

    // The indexed list (the admin script's page mode): filters, the order of
    // an index across the whole set, a name search and a cursor that
    // continues where the previous page ended.
    std::optional<std::string> owner, role, plan, env;
    std::string sort = "created";              // created | name | last_used | expires
    std::optional<bool> ascending;             // unset: sort_ascending_by_default(sort)
    std::string search;                        // case-insensitive name substring
    std::string after;                         // "" first page, else next_cursor
};

inline constexpr std::size_t kMaxPageSize = 200;
// How many index entries one page call looks at, at most: bounds the time
// a filtered page holds Redis (a page may come back short, with a cursor).
inline constexpr std::size_t kPageBudget = 20000;

// Newest first for created and last_used; soonest first for expires; A to Z
// for name.
bool sort_ascending_by_default(std::string_view sort) noexcept;
bool valid_sort(std::string_view sort) noexcept;
// A cursor the page mode gave: "<score>:<id>" or hex.
bool valid_page_cursor(std::string_view cursor) noexcept;

// The admin script's page mode arguments (ARGV[9..]) for a query.
std::vector<std::string> page_arguments(const ListQuery& q, std::size_t page_size,
                                        std::int64_t now);

// Roles and plans (the admin script's role_ and plan_ modes): ARGV[9..] of
// create and update. value: a role's scopes (joined) or a plan's limits
// (formatted); unset on update keeps them.
struct GroupChanges {
    std::optional<std::string> value;
    std::optional<std::string> description;
    std::optional<std::string> quota;      // plans: format_quota_list's text, "" removes
};
std::vector<std::string> group_arguments(const GroupChanges& changes, std::int64_t now);

// The body of POST roles / POST plans ({"name", "scopes" or "limits",
// "description"}) and of PATCH roles/{name} (the same without "name").
// `name` is set on create. Returns an error message or "".
std::string parse_group_changes(AdminRoute route, std::string_view body, std::string& name,
                                GroupChanges& out);
// 0-1024 bytes, the rules of a reason (text.hpp).
std::string description_problem(std::string_view description);

// The cursor that continues after `r` in `sort`'s index, as the page mode
// makes it; and the index's order over records (a Cluster's list, where no
// script reads every slot, cuts its pages from it).
std::string page_cursor(const KeyRecord& r, std::string_view sort);
void sort_for_page(std::vector<KeyRecord>& records, const ListQuery& q);
// Whether `r` comes after q.after in q's order (true when there is no
// cursor): where the next page starts, even when the cursor's key is gone.
bool follows_cursor(const KeyRecord& r, const ListQuery& q);

// ASCII lower case: what the name index and the name search compare.
std::string lower_ascii(std::string_view s);

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
