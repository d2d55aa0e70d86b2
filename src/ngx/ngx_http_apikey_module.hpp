// ngx_http_apikey_module: declarations shared by the nginx layer's files.
//
// Everything here is nginx-side glue. The decisions themselves (token format,
// credential rules, scopes, buckets, reply decoding) live in the core
// (src/core, namespace apikey), which includes no nginx header.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <string_view>
#include <type_traits>

#include "bucket.hpp"
#include "check_reply.hpp"
#include "outcome.hpp"

namespace apikey {
class RedisClient;
class RedisTopology;
struct RedisCall;
}  // namespace apikey

extern "C" {
extern ngx_module_t ngx_http_apikey_module;
}

// One `apikey_scope` line.
struct ngx_http_apikey_scope_line_t {
    ngx_http_complex_value_t  value;    // space-separated scopes, may hold variables
    ngx_uint_t                methods;  // NGX_HTTP_* mask; 0 = every method
};

// One `apikey_quota` line as written.
struct ngx_http_apikey_quota_line_t {
    int64_t       count;          // N of N/period
    ngx_uint_t    period;         // apikey::QuotaPeriod
    ngx_str_t     bucket;         // bucket=NAME: the quota set, "default" by default
    ngx_flag_t    per_owner;
};

// One `apikey_limit` line as written.
struct ngx_http_apikey_limit_line_t {
    ngx_int_t   count;
    u_char      unit;
    ngx_int_t   burst;
    ngx_str_t   bucket;  // bucket set name, "default" unless bucket= is given
    ngx_flag_t  local;   // store=local
    ngx_flag_t  per_owner;   // per=owner: the key's owner's bucket, shared by its keys
};

// A bucket set as sent to Redis: one Redis key per set and request.
struct ngx_http_apikey_bucket_set_t {
    ngx_str_t     name;
    ngx_str_t     spec;       // the script argument: "K 600000:10 8640000:10000"
    ngx_array_t  *buckets;    // of apikey::BucketParams, for store=local
    ngx_array_t  *limits;     // of apikey::Limit, the lines as written: policy names
    unsigned      overridable:1;   // the key's own limits replace these
    unsigned      per_owner:1;     // per=owner (README: the owner's bucket)
};

// apikey_ratelimit_headers: which RateLimit fields a limited response carries.
enum ngx_http_apikey_ratelimit_headers_e {
    NGX_HTTP_APIKEY_RATELIMIT_DRAFT = 0,   // RateLimit-Policy + RateLimit (draft -10)
    NGX_HTTP_APIKEY_RATELIMIT_LEGACY,      // RateLimit-Limit/-Remaining/-Reset/-Policy (-06)
    NGX_HTTP_APIKEY_RATELIMIT_OFF,
};

// apikey_env: which keys a location accepts.
enum ngx_http_apikey_env_e {
    NGX_HTTP_APIKEY_ENV_ANY = 0,
    NGX_HTTP_APIKEY_ENV_LIVE,
    NGX_HTTP_APIKEY_ENV_TEST,
};

enum ngx_http_apikey_topology_e {
    NGX_HTTP_APIKEY_SINGLE = 0,   // one server: host/port or unix_path
    NGX_HTTP_APIKEY_SENTINEL,     // seeds are sentinels; master_name is asked for
    NGX_HTTP_APIKEY_CLUSTER,      // seeds are cluster nodes; the slot map is loaded
};

// A sentinel or cluster node named in apikey_redis, resolved at load time.
struct ngx_http_apikey_seed_t {
    ngx_str_t    host;            // numeric, NUL-terminated
    ngx_int_t    port;
};

// apikey_redis ... tls: how every Redis connection (the server, the
// sentinels and the master, the cluster nodes) speaks TLS. The certificates
// are read when the configuration is loaded, into `ssl`.
struct ngx_http_apikey_tls_t {
    ngx_str_t    ca;              // tls_ca=FILE, or empty: the system's CAs
    ngx_str_t    cert;            // tls_cert=FILE, a client certificate
    ngx_str_t    key;             // tls_key=FILE
    ngx_str_t    name;            // tls_name=NAME (SNI and the name checked), or empty
    ngx_flag_t   verify;          // tls_verify=on|off
#if (NGX_SSL)
    ngx_ssl_t    ssl;
#endif
};

struct ngx_http_apikey_main_conf_t {
    ngx_str_t    redis;           // address as written, for log lines
    ngx_uint_t   topology;        // NGX_HTTP_APIKEY_SINGLE, _SENTINEL or _CLUSTER
    ngx_array_t *seeds;           // of ngx_http_apikey_seed_t (sentinel, cluster)
    ngx_str_t    master_name;     // sentinel: master=NAME, NUL-terminated
    ngx_str_t    sentinel_password; // sentinel: the sentinels' own; never logged
    ngx_str_t    host;            // numeric address, NUL-terminated; empty for unix
    ngx_int_t    port;
    ngx_str_t    unix_path;       // NUL-terminated
    ngx_int_t    db;
    ngx_str_t    password;        // never logged
    ngx_str_t    user;            // user=NAME: AUTH user password (Redis 6 ACL)
    struct ngx_http_apikey_tls_t *tls;   // apikey_redis ... tls, or NULL
    ngx_str_t    prefix;
    ngx_msec_t   connect_timeout; // the http-level apikey_redis_timeout
    ngx_str_t    script_sha;      // SHA-1 of the check script, 40 hex digits
    ngx_str_t    admin_sha;       // and of the admin script
    ngx_str_t    hash_secret;     // apikey_hash_secret: HMAC key, or empty for SHA-256
    ngx_flag_t   used;            // some location has "apikey on"
    ngx_flag_t   usage;           // apikey_usage: per-key usage counts (unset: on)
    ngx_flag_t   batch;           // apikey_redis_batch: checks of one turn in one call
    ngx_shm_zone_t  *metrics;     // counters shared by all workers
    ngx_flag_t   key_stats;       // some location has apikey_metrics: count the keys
    struct ngx_http_apikey_cache_t  *cache;   // apikey_cache, or NULL
    struct ngx_http_apikey_local_t  *local;   // apikey_local_limits, or NULL
};

struct ngx_http_apikey_loc_conf_t {
    ngx_flag_t    enable;
    ngx_array_t  *scopes;         // of ngx_http_apikey_scope_line_t
    ngx_str_t     superscopes;    // space-separated, validated
    ngx_flag_t    superscopes_set;
    ngx_msec_t    timeout;
    ngx_flag_t    strip_credentials;
    ngx_uint_t    log_level;
    ngx_uint_t    fail_mode;      // NGX_HTTP_APIKEY_FAIL_*
    time_t        fail_max_age;   // cached: max_age= (last-known-good)
    ngx_flag_t    require_tls;
    ngx_flag_t    accept_imported;
    time_t        expiry_warning;
    ngx_flag_t    introspect;     // apikey_introspect: this location answers "who am I"
    ngx_flag_t    admin;          // apikey_admin: this location manages keys
    ngx_flag_t    admin_auth;     // and checks an admin key itself (not auth=off)
    ngx_str_t     admin_scope;    // scope=: the scope its key needs, or empty
    time_t        last_used_interval;
    ngx_str_t     last_used_arg;  // the same in seconds, as the check script's argument
    ngx_array_t  *limit_lines;    // of ngx_http_apikey_limit_line_t; empty = off
    ngx_array_t  *bucket_sets;    // of ngx_http_apikey_bucket_set_t, built at merge
    ngx_flag_t    local_limits;   // the lines say store=local: buckets in nginx
    ngx_uint_t    env;            // apikey_env: NGX_HTTP_APIKEY_ENV_*
    ngx_flag_t    dry_run;        // apikey_dry_run: log and count refusals, refuse none
    ngx_array_t  *quota_lines;    // of ngx_http_apikey_quota_line_t; empty = off
    ngx_str_t     quota_spec;     // the lines as the check script's argument
    ngx_int_t     cost;           // apikey_cost: credits one request takes
    ngx_str_t     cost_arg;       // the same as the script's argument
    ngx_uint_t    ratelimit_headers;  // NGX_HTTP_APIKEY_RATELIMIT_*
    struct ngx_http_apikey_leak_conf_t  *leak;   // apikey_leak_report, or NULL (leaks.cpp)
};

enum ngx_http_apikey_fail_mode_e {
    NGX_HTTP_APIKEY_FAIL_CLOSED = 0,
    NGX_HTTP_APIKEY_FAIL_OPEN,
    NGX_HTTP_APIKEY_FAIL_CACHED,  // last-known-good from apikey_cache
};

enum ngx_http_apikey_state_e {
    NGX_HTTP_APIKEY_CHECKING = 0,
    NGX_HTTP_APIKEY_WAITING,
    NGX_HTTP_APIKEY_DONE,
};

// Per-request state. Lives in r->pool and is found again after an internal
// redirect (which clears r->ctx) through its pool cleanup, as realip does.
struct ngx_http_apikey_ctx_t {
    ngx_http_request_t           *request;
    ngx_http_apikey_loc_conf_t   *checked_for;   // location whose rules were applied
    apikey::RedisCall            *call;          // while a reply is awaited
    ngx_event_t                   wake;          // reply or timeout resumes the request

    // the call's keys and arguments after "EVALSHA sha numkeys", in the
    // request pool: what a batch of checks sends of this one (check_batch.cpp)
    const std::string_view       *check_args;
    ngx_uint_t                    check_nkeys;
    ngx_uint_t                    check_nargs;

    apikey::Outcome               outcome;
    ngx_str_t                     id;            // set once the secret matched a record
    ngx_str_t                     name;
    ngx_str_t                     scopes;
    ngx_str_t                     missing_scope;
    ngx_str_t                     hint;          // last characters of the token used
    ngx_str_t                     own_limits;    // effective: the key's own ("600r/m:50
                                                 // ..."), else its plan's
    ngx_str_t                     owner;         // the key model (issue 14), as stored
    ngx_str_t                     role;
    ngx_str_t                     plan;
    ngx_str_t                     env;           // "live"/"test"; "" in the record = live
    ngx_str_t                     meta;          // JSON object text (meta.hpp)
    ngx_str_t                     allow_ip;      // canonical CIDRs
    ngx_str_t                     own_quota;     // effective: the key's own quotas
                                                 // ("1000/day ..."), else its plan's
    int64_t                       credits;       // left after this request, -1: none
    int64_t                       credits_reset; // seconds until the next refill, 0: none
    apikey::QuotaState           *quotas;        // as counted by this request (r->pool)
    ngx_uint_t                    nquotas;
    int64_t                       quota_now;     // Redis's clock then, unix seconds
    ngx_str_t                     digest;        // hex, the script's argument
    u_char                        digest_bin[32];    // the cache's key
    ngx_str_t                     required;      // scopes this location needs
    int64_t                       expires;
    int64_t                       created;
    int64_t                       last_used;
    int64_t                       token_until;   // > 0: previous token, valid until then
    ngx_uint_t                    cache_generation;  // when the check was sent (cache.hpp)

    // rate-limit header values
    int64_t                       rate_limit;
    int64_t                       rate_remaining;
    int64_t                       rate_reset;
    int64_t                       retry_after;
    ngx_str_t                     rate_policy;   // legacy RateLimit-Policy (also /me's)
    ngx_str_t                     draft_policy;  // the draft's RateLimit-Policy
    ngx_str_t                     draft_field;   // the draft's RateLimit

    // a refusal: nginx answers the status (error_page, satisfy any, auth_delay
    // as for auth_basic); when no error_page takes over, the body filter puts
    // this JSON body in place of nginx's own page
    ngx_uint_t                    refusal;       // its status, 0 once let in
    ngx_str_t                     body;          // empty: error_page answers
    ngx_table_elt_t              *challenge;     // our WWW-Authenticate

    unsigned                      state:2;
    unsigned                      json_body:1;   // this response is our refusal
    unsigned                      has_rate:1;
    unsigned                      rate_headers:2;  // NGX_HTTP_APIKEY_RATELIMIT_*
    unsigned                      carriers:3;    // apikey::CredentialHeader mask
    unsigned                      stripped:1;
    unsigned                      counted:1;     // in apikey_requests_total
    unsigned                      in_flight:1;   // in apikey_checks_in_flight
    unsigned                      limit_only:1;  // the script ran in "limit" mode
    unsigned                      cache_store:1; // remember the reply (apikey_cache)
    unsigned                      dry_run:1;     // decided under apikey_dry_run on
    unsigned                      fail_cached:1; // last-known-good consulted (Redis failed)
    unsigned                      lkg_admitted:1;    // and it let the request in
    unsigned                      has_credits:1; // the record keeps credits
};

static_assert(std::is_trivially_destructible<ngx_http_apikey_ctx_t>::value,
              "request contexts live in r->pool and are never destroyed");

// ngx_http_apikey_module.cpp
ngx_http_apikey_ctx_t *ngx_http_apikey_get_ctx(ngx_http_request_t *r);
apikey::RedisTopology *ngx_http_apikey_redis();

// directives.cpp
extern ngx_command_t ngx_http_apikey_commands[];
// per=key|owner and bucket=NAME, the parameters apikey_limit and apikey_quota
// share: NGX_OK when *value is one of them (parsed), NGX_DECLINED when it is
// another, NGX_ERROR once logged
ngx_int_t ngx_http_apikey_set_param(ngx_conf_t *cf, ngx_str_t *value, ngx_flag_t *per_owner,
    ngx_str_t *bucket);
void *ngx_http_apikey_create_main_conf(ngx_conf_t *cf);
void *ngx_http_apikey_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_apikey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);

// credentials.cpp
apikey::Outcome ngx_http_apikey_find_credential(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, ngx_str_t *key);
ngx_int_t ngx_http_apikey_strip_credentials(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx);

// A copy of s in the pool ({0, NULL} for an empty s, or when out of memory
// with a non-empty one: callers check data against a non-zero size).
ngx_str_t ngx_http_apikey_pool_copy(ngx_pool_t *pool, std::string_view s);

inline std::string_view
ngx_http_apikey_sv(const ngx_str_t &s)
{
    return std::string_view(reinterpret_cast<const char *>(s.data), s.len);
}

// A command in Redis's wire format (RESP), formatted into the pool once
// (hiredis would build it in a growing heap string per command): sent as is,
// and again as is after a NOSCRIPT. {NULL, 0} when out of memory.
ngx_str_t ngx_http_apikey_format_command(ngx_pool_t *pool, const std::string_view *args,
    size_t n);

// check_send.cpp
ngx_int_t ngx_http_apikey_required_scopes(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *lcf, ngx_str_t *out);
ngx_int_t ngx_http_apikey_send_check(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, ngx_http_apikey_loc_conf_t *lcf,
    bool limit_only, bool record_use);
void ngx_http_apikey_record_use(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx);
// Redis's clock as this worker has learnt it from script replies
// (redis_clock.cpp): its offset from the worker's, in ms, and its time now in
// unix seconds (`fallback_offset_ms` until this worker has had a reply).
int64_t ngx_http_apikey_redis_offset_ms();
int64_t ngx_http_apikey_redis_now(int64_t fallback_offset_ms);
// A script reply's TIME (ms), from a call that took `rtt_us` (`force`: the
// kept sample has just proved wrong).
void ngx_http_apikey_learn_clock(int64_t redis_ms, uint64_t rtt_us, bool force);
// When the module gives up on a call sent now, on Redis's clock.
int64_t ngx_http_apikey_deadline_ms(ngx_msec_t timeout);
// check_reply.cpp
ngx_int_t ngx_http_apikey_take_local(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf);
void ngx_http_apikey_set_rate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::BucketState *buckets, size_t count);
// check_wait.cpp
void ngx_http_apikey_cancel_check(ngx_http_apikey_ctx_t *ctx);

// responses.cpp
ngx_int_t ngx_http_apikey_deny(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx);
ngx_int_t ngx_http_apikey_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, std::string_view body);
ngx_int_t ngx_http_apikey_no_store(ngx_http_request_t *r);
ngx_int_t ngx_http_apikey_responses_init(ngx_conf_t *cf);

// admin.cpp
char *ngx_http_apikey_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
// merge time: an admin location checks keys (apikey on, with the admin scope)
char *ngx_http_apikey_admin_merge(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *conf);
// access phase: what an admin location serves without a key (its page)
bool ngx_http_apikey_admin_public(ngx_http_request_t *r);

// leaks.cpp
char *ngx_http_apikey_leak_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

// Adds the shared memory zone named by a "zone=NAME:SIZE" argument (as
// limit_req_zone writes it), refusing a bad, too small or already used zone
// with a clear message. NULL on error (already logged).
ngx_shm_zone_t *ngx_http_apikey_shared_zone(ngx_conf_t *cf, ngx_str_t *arg);

// introspect.cpp
char *ngx_http_apikey_introspect_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

// variables.cpp
ngx_int_t ngx_http_apikey_add_variables(ngx_conf_t *cf);

// Error-log lines about Redis faults are rate-limited to one a second per kind,
// so a dead Redis does not flood the log at thousands of requests a second.
enum ngx_http_apikey_log_kind_e {
    NGX_HTTP_APIKEY_LOG_CONNECT = 0,
    NGX_HTTP_APIKEY_LOG_TIMEOUT,
    NGX_HTTP_APIKEY_LOG_REPLY,
    NGX_HTTP_APIKEY_LOG_FAIL_OPEN,
    NGX_HTTP_APIKEY_LOG_SUBSCRIBER,   // the apikey_cache subscription's connection
    NGX_HTTP_APIKEY_LOG_SENTINEL,     // the connection to a sentinel
    NGX_HTTP_APIKEY_LOG_TOPOLOGY,     // redirects, slot maps, master switches
    NGX_HTTP_APIKEY_LOG_FAIL_CACHED,  // apikey_fail_mode cached answered for Redis
    NGX_HTTP_APIKEY_LOG_USAGE,        // per-key usage writes refused
    NGX_HTTP_APIKEY_LOG_KINDS
};

ngx_uint_t ngx_http_apikey_log_allowed(ngx_uint_t kind);

// A timer of the module's own, not a request's: cancelable, so it never keeps
// a shutting-down worker alive.
inline void
ngx_http_apikey_init_timer(ngx_event_t *ev, ngx_event_handler_pt handler, void *data,
    ngx_log_t *log)
{
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
    ev->cancelable = 1;
}

#define ngx_http_apikey_log_limited(kind, level, log, err, ...)               \
    do {                                                                      \
        if (ngx_http_apikey_log_allowed(kind)) {                              \
            ngx_log_error(level, log, err, __VA_ARGS__);                      \
        }                                                                     \
    } while (0)
