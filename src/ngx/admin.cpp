// apikey_admin: key management over HTTP, and the "API Keys" page.
//
// A content handler. By default its location checks keys like "apikey on"
// does, with the admin scope (scope=, else any superscope) as the required
// scope: the access phase answers 401 and 403, and the audit names the key
// that acted. auth=off leaves the guarding to the operator (allow/deny,
// auth_basic, auth_request). Either way a state-changing call must be JSON and
// come from the page's own origin (no cross-site request forgery). Each API
// call is one EVALSHA of the admin script on the worker's Redis connection,
// without blocking: the handler returns NGX_DONE and the reply's posted event
// finishes the request.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"
#include "request_input.hpp"

#include <new>
#include <set>
#include <string>
#include <vector>

#include "admin.hpp"
#include "admin_script.hpp"
#include "digest.hpp"
#include "invalidation.hpp"
#include "json.hpp"
#include "keyspace.hpp"
#include "usage.hpp"
#include "mint.hpp"
#include "redis_call.hpp"
#include "redis_topology.hpp"
#include "scope.hpp"
#include "token.hpp"

extern const std::string_view  ngx_http_apikey_admin_page;
extern const std::string_view  ngx_http_apikey_admin_openapi;

using apikey::AdminRoute;

namespace {

struct admin_ctx_t;

// ?wait=: the confirmation of a change's invalidation by every worker
// (invalidation.hpp, announce.cpp). The privdata of its commands, so it lives
// until their replies are in, the request possibly gone (ctx NULL).
struct admin_waiter_t {
    admin_ctx_t               *ctx = nullptr;
    ngx_uint_t                 outstanding = 0;   // commands sent, replies not in
    std::string                event;
    std::vector<std::string>   expected;          // announced when it was published
    std::set<std::string>      live;
    std::set<std::string>      acked;
    bool                       have_expected = false;
    bool                       round_live = false;   // this poll's replies
    bool                       round_acks = false;
    apikey::WaitState          state;
};

struct admin_ctx_t {
    ngx_http_request_t   *request;
    AdminRoute            route;
    ngx_str_t             id;
    ngx_str_t             command;     // RESP: the call's, sent again after NOSCRIPT
    ngx_str_t             token;       // create and rotate: shown once, in the reply
    ngx_str_t             test_token;  // rotate: the ak_test_ one, for a test key
    apikey::RedisCall    *call;        // while its reply is awaited
    ngx_event_t           wake;
    ngx_uint_t            status;      // the response, once known
    ngx_str_t             body;
    ngx_msec_t            wait_ms;     // ?wait=, 0: none
    ngx_msec_t            wait_started;
    admin_waiter_t       *waiter;      // while waiting
    ngx_event_t           poll;        // the next look at the acknowledgements
    time_t                usage_from;  // usage: the clock the days were taken from
    int                   usage_days;
};

static_assert(std::is_trivially_destructible<admin_ctx_t>::value,
              "admin contexts live in r->pool");


// the body of a response, even an empty one, must not be NULL: see respond()
ngx_str_t
pool_copy(ngx_pool_t *pool, std::string_view s)
{
    static u_char  empty[1];
    ngx_str_t      out = ngx_http_apikey_pool_copy(pool, s);

    if (s.empty()) {
        out.data = empty;
    }
    return out;
}


// The page's Content-Security-Policy, computed once from the compiled-in page
// (at configuration time, in the master; workers inherit it).
const std::string  *page_csp;


bool
add_header(ngx_http_request_t *r, std::string_view name, std::string_view value)
{
    auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return false;
    }
    h->hash = 1;
    h->key.len = name.size();
    h->key.data = reinterpret_cast<u_char *>(const_cast<char *>(name.data()));
    h->value.len = value.size();
    h->value.data = reinterpret_cast<u_char *>(const_cast<char *>(value.data()));
    h->lowcase_key = NULL;
    return true;
}


// Every response of the admin location: never cached, never sent as a Referer.
// No Access-Control-* header, ever: no other origin may read or call the API.
bool
add_admin_headers(ngx_http_request_t *r)
{
    // (X-Content-Type-Options: nosniff comes with every body the module sends)
    return ngx_http_apikey_no_store(r) == NGX_OK
           && add_header(r, "Referrer-Policy", "no-referrer");
}


ngx_int_t
respond(ngx_http_request_t *r, ngx_uint_t status, std::string_view body)
{
    if (status == NGX_HTTP_NO_CONTENT) {
        r->header_only = 1;
    }
    if (!add_admin_headers(r)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_apikey_send_body(r, status, "application/json", body);
}


ngx_int_t
respond_error(ngx_http_request_t *r, ngx_uint_t status, std::string_view code,
    std::string_view message)
{
    return respond(r, status, apikey::admin_error(code, message));
}


// The page, with the headers that keep it to itself: its own scripts only
// (by hash: no inline code an injection could add), no framing.
ngx_int_t
send_page(ngx_http_request_t *r)
{
    if (page_csp == NULL
        || !add_admin_headers(r)
        || !add_header(r, "Content-Security-Policy", *page_csp)
        || !add_header(r, "X-Frame-Options", "DENY"))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_apikey_send_body(r, NGX_HTTP_OK, "text/html; charset=utf-8",
                                     ngx_http_apikey_admin_page);
}


// 403 for another origin, 415 for a change that is not JSON; 0 to go on.
apikey::AdminGuard
cross_site_guard(ngx_http_request_t *r)
{
    apikey::AdminRequestHeaders  h;
    ngx_uint_t                   n;

    h.method = ngx_http_apikey_sv(r->method_name);
    if (r->headers_in.content_type) {
        h.content_type = ngx_http_apikey_sv(r->headers_in.content_type->value);
    }
    h.origin = ngx_http_apikey_request_header(r, "Origin", &n);
    h.origins = n;
    h.sec_fetch_site = ngx_http_apikey_request_header(r, "Sec-Fetch-Site", &n);
#if (NGX_HTTP_SSL)
    h.scheme = r->connection->ssl ? "https" : "http";
#else
    h.scheme = "http";
#endif
    if (r->headers_in.host) {
        h.host = ngx_http_apikey_sv(r->headers_in.host->value);
    }
    return apikey::admin_guard(h);
}


void
cleanup(void *data)
{
    auto  *ctx = static_cast<admin_ctx_t *>(data);

    ngx_http_apikey_call_abandon(&ctx->call, &ctx->wake);
    if (ctx->poll.timer_set) {
        ngx_del_timer(&ctx->poll);
    }
    if (ctx->waiter) {
        // its commands' replies may still come: it goes with the last one
        ctx->waiter->ctx = NULL;
        if (ctx->waiter->outstanding == 0) {
            delete ctx->waiter;
        }
        ctx->waiter = NULL;
    }
}


// The request's admin context. Not in r->ctx: that slot of the module is the
// access check's (a location may have both apikey on and apikey_admin, and the
// header filter reads it), so the context is found through its pool cleanup.
admin_ctx_t *
admin_ctx_of(ngx_http_request_t *r)
{
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_apikey_guard<cleanup>) {
            return static_cast<admin_ctx_t *>(cln->data);
        }
    }
    return NULL;
}


// Who made the change, for the audit stream: the admin key's id (verified by
// this module), else the basic-auth user ($remote_user: as sent, so only as
// trustworthy as the auth_basic or auth_request that guards the location),
// else the client's address.
std::string
caller(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t *k = ngx_http_apikey_get_ctx(r);
    if (k && k->outcome == apikey::Outcome::kOk && k->id.len) {
        return "key:" + std::string(ngx_http_apikey_sv(k->id));
    }

    if (r->headers_in.authorization && ngx_http_auth_basic_user(r) == NGX_OK
        && r->headers_in.user.len)
    {
        return std::string(ngx_http_apikey_sv(r->headers_in.user));
    }

    return "addr:" + std::string(ngx_http_apikey_sv(r->connection->addr_text));
}


void ngx_http_apikey_admin_done(apikey::RedisCall *call, apikey::RedisClient *client,
    redisReply *reply);
void ngx_http_apikey_admin_wake(ngx_event_t *ev);


// Builds the script call for this route and sends it. Returns NGX_AGAIN while
// waiting, or a final status with ctx->body set.
ngx_int_t
send_admin(ngx_http_request_t *r, admin_ctx_t *ctx, std::string_view body)
{
    auto *mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));
    auto *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));
    apikey::RedisTopology *topology = ngx_http_apikey_redis();
    apikey::RedisClient *redis = topology ? topology->primary() : NULL;

    auto fail = [&](ngx_uint_t status, std::string_view code, std::string_view message) {
        ctx->status = status;
        ctx->body = pool_copy(r->pool, apikey::admin_error(code, message));
        return static_cast<ngx_int_t>(status);
    };

    std::string_view prefix = ngx_http_apikey_sv(mcf->prefix);
    time_t now = ngx_time();
    apikey::KeyChanges changes;
    apikey::ListQuery query;

    std::string_view kind = apikey::admin_group_kind(ctx->route);
    apikey::GroupChanges group;
    std::string group_name(ngx_http_apikey_sv(ctx->id));

    apikey::CreditChange credit;

    if (apikey::admin_has_body(ctx->route)) {
        std::string problem;
        if (ctx->route == AdminRoute::kCredits) {
            problem = apikey::parse_credit_change(body, credit);
            changes.reason = credit.reason;   // the audit event's
        } else {
            problem = kind.empty()
                      ? apikey::parse_key_changes(ctx->route, body, changes)
                      : apikey::parse_group_changes(ctx->route, body, group_name, group);
        }
        if (!problem.empty()) {
            return fail(NGX_HTTP_BAD_REQUEST, "invalid_request", problem);
        }
        if (!kind.empty()) {
            ctx->id = pool_copy(r->pool, group_name);   // POST roles: the body names it
        }
    }

    if (ctx->route == AdminRoute::kList || ctx->route == AdminRoute::kAudit) {
        std::string problem = apikey::parse_list_query(ngx_http_apikey_sv(r->args), query);
        if (!problem.empty()) {
            return fail(NGX_HTTP_BAD_REQUEST, "invalid_request", problem);
        }
    }

    int usage_days = apikey::kUsageDefaultDays;
    if (ctx->route == AdminRoute::kUsage) {
        std::string problem = apikey::parse_usage_query(ngx_http_apikey_sv(r->args), usage_days);
        if (!problem.empty()) {
            return fail(NGX_HTTP_BAD_REQUEST, "invalid_request", problem);
        }
    }

    if (topology != NULL && topology->cluster()) {
        // a change and its audit event are written by one script, and a
        // cluster runs a script only on keys of one slot
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable",
                    "the admin API is not available on Redis Cluster; use apikeyctl");
    }

    if (redis == NULL) {
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", "Redis is not configured");
    }

    std::string id(ngx_http_apikey_sv(ctx->id));
    std::vector<std::string> extra;

    if (ctx->route == AdminRoute::kCreate || ctx->route == AdminRoute::kRotate) {
        if (ctx->route == AdminRoute::kCreate) {
            auto minted = apikey::mint_id();
            if (!minted) {
                return fail(NGX_HTTP_INTERNAL_SERVER_ERROR, "internal", "no randomness");
            }
            id = *minted;
            ctx->id = pool_copy(r->pool, id);
        }
        // a test key's token says so in its prefix (ak_test_); the rotate
        // of a test key is given both, and the script keeps the one that
        // matches the record's env
        auto env = changes.env == "test" ? apikey::KeyEnv::kTest : apikey::KeyEnv::kLive;
        auto token = apikey::mint_token(id, env);
        apikey::DigestHex digest;
        if (!token || !apikey::token_digest(*token, ngx_http_apikey_sv(mcf->hash_secret), digest)) {
            return fail(NGX_HTTP_INTERNAL_SERVER_ERROR, "internal", "no randomness");
        }
        ctx->token = pool_copy(r->pool, *token);
        std::string digest_hex(digest.data(), digest.size());
        std::string hint(apikey::token_hint(*token));

        if (ctx->route == AdminRoute::kCreate) {
            apikey::KeyRecord record = apikey::new_key_record(changes, id, digest_hex, hint, now);
            for (auto &[field, value] : apikey::record_fields(record)) {
                extra.push_back(field);
                extra.push_back(value);
            }
            for (auto &item : apikey::model_fields(changes, true)) {
                extra.push_back(std::move(item));
            }
        } else {
            auto test = apikey::mint_token(id, apikey::KeyEnv::kTest);
            apikey::DigestHex test_digest;
            if (!test
                || !apikey::token_digest(*test, ngx_http_apikey_sv(mcf->hash_secret), test_digest))
            {
                return fail(NGX_HTTP_INTERNAL_SERVER_ERROR, "internal", "no randomness");
            }
            ctx->test_token = pool_copy(r->pool, *test);
            extra = {digest_hex, hint,
                     std::to_string(changes.grace > 0 ? now + changes.grace : 0),
                     std::to_string(now),
                     std::string(test_digest.data(), test_digest.size()),
                     std::string(apikey::token_hint(*test))};
        }

    } else if (ctx->route == AdminRoute::kUpdate) {
        // only what changes, through the same functions apikeyctl update uses
        extra = apikey::changed_fields(changes, now);
        for (auto &item : apikey::model_fields(changes, false)) {
            extra.push_back(std::move(item));
        }

    } else if (ctx->route == AdminRoute::kRevoke || ctx->route == AdminRoute::kDisable
               || ctx->route == AdminRoute::kEnable || ctx->route == AdminRoute::kOwnerRevoke)
    {
        extra.push_back(std::to_string(now));

    } else if (ctx->route == AdminRoute::kRoleCreate || ctx->route == AdminRoute::kRoleUpdate
               || ctx->route == AdminRoute::kPlanCreate || ctx->route == AdminRoute::kPlanUpdate)
    {
        extra = apikey::group_arguments(group, now);

    } else if (ctx->route == AdminRoute::kDelete || ctx->route == AdminRoute::kResetLimits) {
        // the script also deletes the key's quota counters
        extra.push_back(apikey::bucket_pattern(prefix, id));

    } else if (ctx->route == AdminRoute::kCredits) {
        // set or add in the script, in one step with the audit event
        extra = apikey::credit_arguments(credit, now);

    } else if (ctx->route == AdminRoute::kList) {
        // one page in the order of a sorted index, the same call apikeyctl
        // list makes: bounded by the page size and the script's budget
        extra = apikey::page_arguments(query, query.limit.value_or(50), now);

    } else if (ctx->route == AdminRoute::kAudit) {
        extra = {id, std::to_string(query.limit.value_or(100))};

    } else if (ctx->route == AdminRoute::kUsage) {
        // the days are the script's arguments, oldest first; decode() takes
        // them back from the same clock second (ctx->usage_from)
        ctx->usage_from = now;
        ctx->usage_days = usage_days;
        for (std::uint32_t day : apikey::usage_days(now, usage_days)) {
            extra.push_back(apikey::usage_redis_key(prefix, id, day));
        }
    }

    std::string record_key;
    if (!kind.empty()) {
        // a role or plan hash (the list: the set of names)
        id = std::string(ngx_http_apikey_sv(ctx->id));
        record_key = std::string(prefix) + std::string(kind)
                     + (id.empty() ? "s" : ":" + id);
    } else if (ctx->route == AdminRoute::kOwnerRevoke) {
        record_key = std::string(prefix) + "owner_keys:" + id;
    } else {
        record_key = id.empty() ? std::string(prefix) + "audit" : apikey::record_key(prefix, id);
    }

    std::vector<std::string> args = {
        "EVALSHA", std::string(ngx_http_apikey_sv(mcf->admin_sha)), "2", record_key,
        std::string(prefix) + "audit", std::string(apikey::admin_mode(ctx->route)),
        std::to_string(now), std::string(apikey::admin_action(ctx->route)), caller(r),
        changes.reason, "admin-api",
        std::string(prefix) + "invalidate", id,
    };
    args.insert(args.end(), extra.begin(), extra.end());

    // EVALSHA admin 2 <record> <audit> mode time action user reason via channel id args...
    std::vector<std::string_view> views(args.begin(), args.end());
    ctx->command = ngx_http_apikey_format_command(r->pool, views.data(), views.size());
    if (ctx->command.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    auto *call = ngx_http_apikey_call_create(ctx, ngx_http_apikey_admin_done, ctx->command, 0,
                                             false);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_apikey_call_send(call)) {
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable",
                    "Redis is not reachable; retry shortly");
    }

    ctx->call = call;
    ctx->wake.handler = ngx_http_apikey_guard<ngx_http_apikey_admin_wake>;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;
    ngx_add_timer(&ctx->wake, lcf->timeout);

    return NGX_AGAIN;
}


// One field of the record in a { "ok", fields } reply ("" when absent).
std::string_view
reply_field(const redisReply *reply, std::string_view name)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return {};
    }
    const redisReply *fields = reply->element[1];
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i], *v = fields->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
            && std::string_view(f->str, f->len) == name)
        {
            return std::string_view(v->str, v->len);
        }
    }
    return {};
}


std::string
key_json(const apikey::KeyRecord &record, const ngx_str_t &token)
{
    return apikey::record_json(record, ngx_time(), ngx_http_apikey_sv(token)) + "\n";
}


// Turns the script's reply into the response (ctx->status, ctx->body).
void
decode(ngx_http_request_t *r, admin_ctx_t *ctx, const redisReply *reply)
{
    std::string body;

    auto error = [&](ngx_uint_t status, std::string_view code, std::string_view message) {
        ctx->status = status;
        body = apikey::admin_error(code, message);
    };
    // a reply the script marked as an error: logged, and a 503
    auto unavailable = [&](const std::string& message) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR, r->connection->log, 0,
                                    "apikey: admin request: %s", message.c_str());
        error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", message);
    };

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR, r->connection->log, 0,
                                    "apikey: admin request failed in redis: %*s",
                                    reply ? reply->len : 4, reply ? reply->str : "lost");
        error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", "Redis could not be used");

    } else if (ctx->route == AdminRoute::kList) {
        apikey::AdminPage page;
        apikey::ListQuery query;
        std::string problem;
        bool needs_reindex = false;
        apikey::parse_list_query(ngx_http_apikey_sv(r->args), query);
        if (!apikey::decode_admin_page(reply, page, needs_reindex, problem)) {
            error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", problem);
        } else if (needs_reindex) {
            error(NGX_HTTP_SERVICE_UNAVAILABLE, "reindex_needed",
                  "the keys were written before the list indexes existed: "
                  "run \"apikeyctl reindex\" once");
        } else {
            ctx->status = NGX_HTTP_OK;
            body = "{\"keys\":[";
            bool first = true;
            time_t now = ngx_time();
            for (const auto &record : page.records) {
                // the filters the index walk does not apply (name_prefix,
                // expiring_within, unused_since): a page may come back short
                if (!apikey::list_matches(record, query, now)) continue;
                body += first ? "" : ",";
                body += apikey::record_json(record, now);
                first = false;
            }
            body += "],\"next_cursor\":";
            if (page.cursor.empty()) {
                body += "null";
            } else {
                apikey::append_json_string(body, page.cursor);
            }
            body += "}\n";
        }

    } else if (ctx->route == AdminRoute::kRoleList || ctx->route == AdminRoute::kPlanList) {
        std::string_view kind = apikey::admin_group_kind(ctx->route);
        std::vector<apikey::Group> groups;
        std::string problem;
        if (!apikey::decode_admin_groups(reply, kind, groups, problem)) {
            error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", problem);
        } else {
            ctx->status = NGX_HTTP_OK;
            body = "{\"" + std::string(kind) + "s\":[";
            for (std::size_t i = 0; i < groups.size(); i++) {
                body += (i ? "," : "") + apikey::group_json(groups[i], kind);
            }
            body += "]}\n";
        }

    } else if (!apikey::admin_group_kind(ctx->route).empty()) {
        std::string_view kind = apikey::admin_group_kind(ctx->route);
        std::string name(ngx_http_apikey_sv(ctx->id));
        apikey::Group group;
        std::vector<std::string> changed;
        apikey::AdminReply result = apikey::decode_admin_group(reply, kind, group, changed);
        group.name = name;
        switch (result.status) {
        case apikey::AdminReply::Status::kOk:
            if (ctx->route == AdminRoute::kRoleDelete || ctx->route == AdminRoute::kPlanDelete) {
                ctx->status = NGX_HTTP_NO_CONTENT;
            } else {
                ctx->status = ctx->route == AdminRoute::kRoleCreate
                              || ctx->route == AdminRoute::kPlanCreate
                              ? NGX_HTTP_CREATED : NGX_HTTP_OK;
                body = apikey::group_json(group, kind) + "\n";
            }
            break;
        case apikey::AdminReply::Status::kNotFound:
            error(NGX_HTTP_NOT_FOUND, "not_found", "no " + std::string(kind) + " \"" + name + "\"");
            break;
        case apikey::AdminReply::Status::kExists:
            error(NGX_HTTP_CONFLICT, "conflict",
                  std::string(kind) + " \"" + name + "\" exists already");
            break;
        case apikey::AdminReply::Status::kConflict:
            // delete while keys use it: move them first
            error(NGX_HTTP_CONFLICT, "conflict",
                  std::string(kind) + " \"" + name + "\" is in use: " + result.message
                  + "; give them another " + std::string(kind) + " first");
            break;
        case apikey::AdminReply::Status::kError:
            unavailable(result.message);
            break;
        }

    } else if (ctx->route == AdminRoute::kOwnerRevoke) {
        // { "ok", id, id ... }: the keys revoked, one audit event each
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
            error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", "unexpected reply");
        } else {
            apikey::JsonObject json;
            std::string ids = "[";
            for (std::size_t i = 1; i < reply->elements; i++) {
                const redisReply *e = reply->element[i];
                if (e->type != REDIS_REPLY_STRING) continue;
                if (ids.size() > 1) ids += ",";
                apikey::append_json_string(ids, std::string_view(e->str, e->len));
            }
            json.field("owner", ngx_http_apikey_sv(ctx->id)).raw_field("revoked", ids + "]");
            ctx->status = NGX_HTTP_OK;
            body = json.str() + "\n";
        }

    } else if (ctx->route == AdminRoute::kUsage) {
        std::vector<std::uint32_t> days = apikey::usage_days(ctx->usage_from, ctx->usage_days);
        if (apikey::is_admin_not_found(reply)) {
            error(NGX_HTTP_NOT_FOUND, "not_found",
                  "no key with id " + std::string(ngx_http_apikey_sv(ctx->id)));
        } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != days.size() + 1) {
            unavailable("unexpected reply to a usage request");
        } else {
            std::vector<apikey::UsageDay> report(days.size());
            for (std::size_t i = 0; i < days.size(); i++) {
                const redisReply *h = reply->element[i + 1];
                std::vector<std::string_view> flat;
                for (std::size_t j = 0; h->type == REDIS_REPLY_ARRAY && j < h->elements; j++) {
                    const redisReply *e = h->element[j];
                    flat.emplace_back(e->type == REDIS_REPLY_STRING
                                      ? std::string_view(e->str, e->len) : std::string_view());
                }
                report[i].day = days[i];
                apikey::add_usage_fields(report[i], flat);
            }
            ctx->status = NGX_HTTP_OK;
            body = "{";
            apikey::append_json_string(body += "\"id\":", ngx_http_apikey_sv(ctx->id));
            body += ",";
            apikey::append_usage_json(body, report);
            body += "}\n";
        }

    } else if (ctx->route == AdminRoute::kAudit) {
        std::vector<apikey::AuditEvent> events;
        std::string problem;
        if (apikey::is_admin_not_found(reply)) {
            error(NGX_HTTP_NOT_FOUND, "not_found",
                  "no key with id " + std::string(ngx_http_apikey_sv(ctx->id)));
        } else if (!apikey::decode_admin_audit(reply, events, problem)) {
            error(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", problem);
        } else {
            ctx->status = NGX_HTTP_OK;
            body = "{\"events\":[";
            for (std::size_t i = 0; i < events.size(); i++) {
                body += (i ? "," : "") + apikey::audit_json(events[i]);
            }
            body += "]}\n";
        }

    } else {
        apikey::AdminReply result = apikey::decode_admin_record(reply, ngx_http_apikey_sv(ctx->id));
        switch (result.status) {
        case apikey::AdminReply::Status::kOk:
            if (ctx->route == AdminRoute::kDelete) {
                ctx->status = NGX_HTTP_NO_CONTENT;
            } else {
                ctx->status = ctx->route == AdminRoute::kCreate ? NGX_HTTP_CREATED : NGX_HTTP_OK;
                // a rotated test key took the ak_test_ token (see send_admin)
                body = key_json(result.record,
                                ctx->route == AdminRoute::kRotate
                                && reply_field(reply, "env") == "test"
                                ? ctx->test_token : ctx->token);
            }
            break;
        case apikey::AdminReply::Status::kNotFound:
            error(NGX_HTTP_NOT_FOUND, "not_found",
                  "no key with id " + std::string(ngx_http_apikey_sv(ctx->id)));
            break;
        case apikey::AdminReply::Status::kConflict:
            error(NGX_HTTP_CONFLICT, "conflict", result.message);
            break;
        case apikey::AdminReply::Status::kExists:
            error(NGX_HTTP_CONFLICT, "conflict", "a key with this id exists; retry");
            break;
        case apikey::AdminReply::Status::kError:
            unavailable(result.message);
            break;
        }
    }

    ctx->body = pool_copy(r->pool, body);
}


void wait_body(ngx_http_request_t *r, admin_ctx_t *ctx, admin_waiter_t *w, bool timed_out);


// ?wait=: the body and status once the wait is over: 200 when every worker
// announced at publication confirmed (or stopped meanwhile), else 202 (the
// change is made; not every worker has shown it dropped the key).
void
finish_wait(admin_ctx_t *ctx, bool timed_out)
{
    ngx_http_request_t  *r = ctx->request;
    admin_waiter_t      *w = ctx->waiter;

    if (ctx->poll.timer_set) {
        ngx_del_timer(&ctx->poll);
    }
    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    try {
        wait_body(r, ctx, w, timed_out);
    } catch (...) {
        // the request must still be answered: logged here, not at the entry
        ngx_http_apikey_log_caught(r->connection->log, "the wait's answer");
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_str_null(&ctx->body);
    }

    w->ctx = NULL;
    if (w->outstanding == 0) {
        delete w;
    }
    ctx->waiter = NULL;

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


void
wait_body(ngx_http_request_t *r, admin_ctx_t *ctx, admin_waiter_t *w, bool timed_out)
{
    if (!w->have_expected) {
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->body = pool_copy(r->pool, apikey::admin_error(
            "auth_unavailable", "the change is made, but Redis did not say which nginx "
                                "workers to wait for; retry the wait with apikeyctl"));
    } else {
        if (timed_out) {
            // the last look decides: what came since is not known
            w->state = apikey::wait_state(w->expected, w->live, w->acked);
        }
        std::string object;
        if (ctx->status == NGX_HTTP_NO_CONTENT) {   // delete
            apikey::JsonObject json;
            json.field("id", ngx_http_apikey_sv(ctx->id)).field("deleted", true);
            object = json.str();
        } else {
            object = std::string(ngx_http_apikey_sv(ctx->body));
        }
        ctx->status = w->state.done() ? NGX_HTTP_OK : NGX_HTTP_ACCEPTED;
        ctx->body = pool_copy(
            r->pool, apikey::with_wait(object, w->state,
                                       static_cast<std::int64_t>(ngx_current_msec
                                                                 - ctx->wait_started))
                     + "\n");
    }
}


// A wait's reply is in: one more look when both of this round's are.
void
wait_progress(admin_waiter_t *w)
{
    admin_ctx_t  *ctx = w->ctx;

    if (!w->have_expected || !w->round_live || !w->round_acks) {
        return;
    }
    w->round_live = w->round_acks = false;
    w->state = apikey::wait_state(w->expected, w->live, w->acked);

    if (w->state.done()) {
        finish_wait(ctx, false);
        return;
    }
    ngx_add_timer(&ctx->poll, 25);
}


// The reply of one of a wait's commands: NULL if the request is gone.
admin_waiter_t *
wait_reply(redisAsyncContext *ac, void *privdata)
{
    auto  *w = static_cast<admin_waiter_t *>(privdata);

    apikey::RedisClient::of(ac)->note_reply();
    w->outstanding--;
    if (w->ctx == NULL) {
        if (w->outstanding == 0) {
            delete w;
        }
        return NULL;
    }
    return w;
}


std::set<std::string>
reply_strings(const redisReply *reply)
{
    std::set<std::string>  out;

    for (std::size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            out.emplace(e->str, e->len);
        }
    }
    return out;
}


void
wait_live_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    admin_waiter_t *w = wait_reply(ac, privdata);
    if (w == NULL) {
        return;
    }
    auto *rep = static_cast<redisReply *>(reply);
    if (!w->have_expected) {
        // the first: sent right before the message, on the same connection
        if (rep && rep->type == REDIS_REPLY_ARRAY) {
            auto live = reply_strings(rep);
            w->expected.assign(live.begin(), live.end());
            w->have_expected = true;
            // until a look says otherwise they are all there: a deadline
            // before the first look must not count them as gone
            w->live = std::move(live);
        }
        return;
    }
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        w->live = reply_strings(rep);
    }
    w->round_live = true;
    wait_progress(w);
}


void
wait_acks_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    admin_waiter_t *w = wait_reply(ac, privdata);
    if (w == NULL) {
        return;
    }
    auto *rep = static_cast<redisReply *>(reply);
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        w->acked = reply_strings(rep);
    }
    w->round_acks = true;
    wait_progress(w);
}


void
wait_ignore_reply(redisAsyncContext *ac, void *, void *privdata)
{
    (void) wait_reply(ac, privdata);
}


bool
wait_send(admin_waiter_t *w, std::vector<std::string> args, redisCallbackFn *fn)
{
    apikey::RedisTopology *topology = ngx_http_apikey_redis();
    apikey::RedisClient *redis = topology ? topology->primary() : NULL;

    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const auto &a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    if (redis == NULL
        || !redis->send(static_cast<int>(argv.size()), argv.data(), lens.data(), fn, w))
    {
        return false;
    }
    w->outstanding++;
    return true;
}


std::string
wait_prefix(ngx_http_request_t *r)
{
    auto *mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));
    return std::string(ngx_http_apikey_sv(mcf->prefix));
}


// The next look: the workers announced now, and those that acknowledged.
void
ngx_http_apikey_admin_poll(ngx_event_t *ev)
{
    auto          *r = static_cast<ngx_http_request_t *>(ev->data);
    admin_ctx_t   *ctx = admin_ctx_of(r);

    if (ctx == NULL || ctx->waiter == NULL) {
        return;
    }
    admin_waiter_t *w = ctx->waiter;
    std::string prefix = wait_prefix(r);

    w->round_live = w->round_acks = false;
    if (!wait_send(w, {"EVAL", apikey::kLiveWorkersScript, "1", apikey::workers_key(prefix)},
                   ngx_http_apikey_guard<wait_live_reply>)
        || !wait_send(w, {"SMEMBERS", apikey::ack_key(prefix, w->event)},
                      ngx_http_apikey_guard<wait_acks_reply>))
    {
        // no connection now: look again a little later, until the deadline
        w->round_live = w->round_acks = false;
        if (!ctx->poll.timer_set) {
            ngx_add_timer(&ctx->poll, 100);
        }
    }
}


// After a change: the workers announced now, then the message with an event
// id to acknowledge, then a look every 25 ms until all did or time is up. The
// worker is never held: every step is a reply or a timer.
bool
start_wait(ngx_http_request_t *r, admin_ctx_t *ctx)
{
    auto *w = new (std::nothrow) admin_waiter_t;
    if (w == NULL) {
        return false;
    }
    w->event = apikey::new_event_id();
    std::string prefix = wait_prefix(r);
    struct timeval tv;
    ngx_gettimeofday(&tv);
    int64_t now_us = static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;

    if (w->event.empty()
        || !wait_send(w, {"EVAL", apikey::kLiveWorkersScript, "1", apikey::workers_key(prefix)},
                      ngx_http_apikey_guard<wait_live_reply>))
    {
        delete w;
        return false;
    }
    w->ctx = ctx;
    ctx->waiter = w;
    ctx->wait_started = ngx_current_msec;

    (void) wait_send(w, {"PUBLISH", prefix + "invalidate",
                         apikey::invalidation_message(ngx_http_apikey_sv(ctx->id), w->event,
                                                      now_us)},
                     ngx_http_apikey_guard<wait_ignore_reply>);

    ctx->poll.handler = ngx_http_apikey_guard<ngx_http_apikey_admin_poll>;
    ctx->poll.data = r;
    ctx->poll.log = r->connection->log;
    ngx_add_timer(&ctx->poll, 20);
    ngx_add_timer(&ctx->wake, ctx->wait_ms);
    return true;
}


// The admin call's outcome (redis_call.hpp): decoded into the response, then
// the request is woken (or, for ?wait=, the wait begins).
void
ngx_http_apikey_admin_done(apikey::RedisCall *call, apikey::RedisClient *client,
    redisReply *reply)
{
    auto                *ctx = static_cast<admin_ctx_t *>(call->owner);
    ngx_http_request_t  *r = ctx->request;

    try {
        if (client == NULL) {
            // not sent: no master was named, or the connection went
            ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
            ctx->body = pool_copy(r->pool, apikey::admin_error(
                "auth_unavailable", "Redis is not reachable; retry shortly"));
        } else {
            decode(r, ctx, reply);
        }
    } catch (...) {
        // the request must still be woken: logged here, not at the entry
        ngx_http_apikey_log_caught(r->connection->log, "the admin reply");
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_str_null(&ctx->body);
    }

    ctx->call = NULL;   // freed by redis_call.cpp once this returns

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    if (ctx->wait_ms
        && (ctx->status == NGX_HTTP_OK || ctx->status == NGX_HTTP_NO_CONTENT)
        && start_wait(r, ctx))
    {
        return;   // the wait's last reply, or its deadline, answers
    }

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


// The reply is in, or the time is up: answer and finish the request.
void
ngx_http_apikey_admin_wake(ngx_event_t *ev)
{
    auto                *r = static_cast<ngx_http_request_t *>(ev->data);
    auto                *ctx = admin_ctx_of(r);
    ngx_connection_t    *c = r->connection;
    ngx_int_t            rc;

    if (ev->timedout && ctx->waiter) {
        // ?wait='s deadline: answer with who did not confirm
        ev->timedout = 0;
        finish_wait(ctx, true);
        ngx_delete_posted_event(&ctx->wake);
    }

    if (ev->timedout) {
        ev->timedout = 0;
        cleanup(ctx);
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->body = pool_copy(r->pool, apikey::admin_error("auth_unavailable",
                                                           "Redis did not answer in time"));
    }

    ngx_http_set_log_request(c->log, r);

    try {
        rc = ctx->body.data
             ? respond(r, ctx->status, ngx_http_apikey_sv(ctx->body))
             : NGX_HTTP_INTERNAL_SERVER_ERROR;
    } catch (...) {
        ngx_http_apikey_log_caught(c->log, "the admin answer");
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


// Starts the Redis step; the request stays open (its count was raised) until
// the wake handler finalizes it.
void
start(ngx_http_request_t *r, admin_ctx_t *ctx, std::string_view body)
{
    ngx_int_t  rc;

    try {
        rc = send_admin(r, ctx, body);
    } catch (...) {
        ngx_http_apikey_log_caught(r->connection->log, "the admin request");
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_AGAIN) {
        return;
    }

    if (ctx->body.data) {
        rc = respond(r, ctx->status, ngx_http_apikey_sv(ctx->body));
    }

    ngx_http_finalize_request(r, rc);
}


void
body_read(ngx_http_request_t *r)
{
    auto          *ctx = admin_ctx_of(r);
    std::string    body;
    ngx_int_t      rc;

    try {
        rc = ngx_http_apikey_request_body(r, apikey::kMaxAdminBody, &body);
    } catch (...) {
        ngx_http_apikey_log_caught(r->connection->log, "the admin request body");
        rc = NGX_ERROR;
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, respond_error(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                                   "the body is larger than 16 KiB"));
        return;
    }

    start(r, ctx, body);
}


ngx_int_t
ngx_http_apikey_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln;
    ngx_http_core_loc_conf_t  *clcf;
    admin_ctx_t               *ctx;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));

    // the route is what follows the location's prefix
    std::string_view uri = ngx_http_apikey_sv(r->uri), prefix = ngx_http_apikey_sv(clcf->name);
    if (uri.substr(0, prefix.size()) != prefix) {
        return NGX_HTTP_NOT_FOUND;
    }

    apikey::AdminTarget target = apikey::admin_route(ngx_http_apikey_sv(r->method_name),
                                                     uri.substr(prefix.size()));

    switch (target.route) {
    case AdminRoute::kPage:
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        return send_page(r);
    case AdminRoute::kOpenApi:
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        if (!add_admin_headers(r)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        return ngx_http_apikey_send_body(r, NGX_HTTP_OK, "application/json",
                                         ngx_http_apikey_admin_openapi);
    case AdminRoute::kMethodNotAllowed:
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        // RFC 9110 15.5.6: a 405 lists the methods the resource has
        if (!add_header(r, "Allow", target.allow)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        return respond_error(r, NGX_HTTP_NOT_ALLOWED, "method_not_allowed",
                             "this method is not allowed here (allowed: "
                             + std::string(target.allow) + ")");
    default:
        break;
    }

    // before anything is read or changed
    apikey::AdminGuard guard = cross_site_guard(r);
    if (guard.status) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        return respond_error(r, guard.status,
                             guard.status == NGX_HTTP_FORBIDDEN ? "cross_site"
                                                                : "unsupported_media_type",
                             guard.message);
    }

    if (target.route == AdminRoute::kNotFound) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        return respond_error(r, NGX_HTTP_NOT_FOUND, "not_found", "no such resource");
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(admin_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx = static_cast<admin_ctx_t *>(cln->data);
    ngx_memzero(ctx, sizeof(admin_ctx_t));
    ctx->request = r;
    ctx->route = target.route;
    ctx->id.data = reinterpret_cast<u_char *>(const_cast<char *>(target.id.data()));
    ctx->id.len = target.id.size();
    cln->handler = ngx_http_apikey_guard<cleanup>;

    ngx_str_t  wait_arg;
    if (ngx_http_arg(r, const_cast<u_char *>(reinterpret_cast<const u_char *>("wait")), 4,
                     &wait_arg) == NGX_OK)
    {
        // revoke, rotate, delete and disable: the changes that take a key
        // away from someone, where "is it gone everywhere?" is the question
        auto ms = apikey::parse_wait_timeout(ngx_http_apikey_sv(wait_arg), 60000);
        bool takes = target.route == AdminRoute::kRevoke || target.route == AdminRoute::kRotate
                     || target.route == AdminRoute::kDelete
                     || target.route == AdminRoute::kDisable;
        if (!takes || !ms) {
            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) return rc;
            return respond_error(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 takes ? "wait must be a time from 1ms to 60s (500ms, 5s, 1m)"
                                       : "wait is for revoke, rotate, delete and disable");
        }
        ctx->wait_ms = static_cast<ngx_msec_t>(*ms);
    }

    if (apikey::admin_has_body(target.route)) {
        if (r->headers_in.content_length_n > static_cast<off_t>(apikey::kMaxAdminBody)) {
            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) return rc;
            return respond_error(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 "the body is larger than 16 KiB");
        }

        r->request_body_in_single_buf = 1;
        rc = ngx_http_read_client_request_body(r, ngx_http_apikey_guard<body_read>);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }
        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    start(r, ctx, "");
    return NGX_DONE;
}

}  // namespace


// What the access phase lets through without a key: the page (its API calls
// carry the key) and its OpenAPI document, and 405s, which change nothing.
bool
ngx_http_apikey_admin_public(ngx_http_request_t *r)
{
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));

    std::string_view uri = ngx_http_apikey_sv(r->uri), prefix = ngx_http_apikey_sv(clcf->name);
    if (uri.substr(0, prefix.size()) != prefix) {
        return false;
    }
    return apikey::admin_route_is_public(
        apikey::admin_route(ngx_http_apikey_sv(r->method_name), uri.substr(prefix.size())).route);
}


// apikey_admin [scope=SCOPE | auth=off];
char *
ngx_http_apikey_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    auto                      *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);
    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->admin) {
        return const_cast<char *>("is duplicate");
    }

    lcf->admin = 1;
    lcf->admin_auth = 1;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));

    if (clcf->regex || clcf->named) {
        return const_cast<char *>("needs a prefix location (location /admin/ { ... })");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        std::string_view arg = ngx_http_apikey_sv(value[i]);

        if (arg.substr(0, 6) == "scope=") {
            if (!apikey::valid_scope(arg.substr(6))) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid scope in \"%V\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            lcf->admin_scope.data = value[i].data + 6;
            lcf->admin_scope.len = value[i].len - 6;

        } else if (arg == "auth=off") {
            lcf->admin_auth = 0;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    if (!lcf->admin_auth) {
        // legitimate behind allow/deny, auth_basic or auth_request; a
        // forgotten guard would let anyone mint and delete keys
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"apikey_admin auth=off\": the admin API at location \"%V\" "
                           "checks no admin key; it must be guarded some other way "
                           "(allow/deny, auth_basic, auth_request)", &clcf->name);
    }

    if (page_csp == NULL) {
        try {
            page_csp = new std::string(apikey::admin_page_csp(ngx_http_apikey_admin_page));
        } catch (...) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    clcf->handler = ngx_http_apikey_guard<ngx_http_apikey_admin_handler, NGX_HTTP_INTERNAL_SERVER_ERROR>;

    return NGX_CONF_OK;
}


// Turns the key check on for the location, with the admin scope required on
// top of the location's own apikey_scope lines: scope= when given, else the
// superscopes themselves (a key holding any superscope passes every check; a
// key holding none lacks them all), so 401 and 403 come from the access phase.
char *
ngx_http_apikey_admin_merge(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *conf)
{
    ngx_str_t                      need;
    ngx_array_t                   *lines;
    ngx_http_apikey_scope_line_t  *line;

    if (!conf->admin_auth) {
        return NGX_CONF_OK;
    }

    need = conf->admin_scope.len ? conf->admin_scope : conf->superscopes;
    if (need.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_admin\" needs the scope an admin key must hold: "
                           "\"apikey_admin scope=NAME;\" or \"apikey_superscope NAME;\" "
                           "(or \"apikey_admin auth=off;\" where another guard protects it)");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    // a new array: the inherited lines are the parent's and stay as they are
    lines = ngx_array_create(cf->pool, (conf->scopes ? conf->scopes->nelts : 0) + 1,
                             sizeof(ngx_http_apikey_scope_line_t));
    if (lines == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->scopes) {
        for (ngx_uint_t i = 0; i < conf->scopes->nelts; i++) {
            *static_cast<ngx_http_apikey_scope_line_t *>(ngx_array_push(lines)) =
                static_cast<ngx_http_apikey_scope_line_t *>(conf->scopes->elts)[i];
        }
    }

    line = static_cast<ngx_http_apikey_scope_line_t *>(ngx_array_push(lines));
    ngx_memzero(line, sizeof(ngx_http_apikey_scope_line_t));
    line->value.value = need;   // no lengths: a constant, evaluated as is
    line->methods = 0;

    conf->scopes = lines;

    return NGX_CONF_OK;
}
