// ngx_http_apikey_module: API keys checked in the access phase against Redis.
//
// The access handler below reads top to bottom as a request's journey:
//
//   credential -> cheap checks -> Redis (one EVALSHA) -> decide -> respond
//
// It is a small state machine in the shape of ngx_http_auth_request_module:
// no context: start the check and return NGX_AGAIN; waiting: NGX_AGAIN;
// done: NGX_OK, or a refusal.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include <new>

#include "announce.hpp"
#include "cache.hpp"
#include "cidr.hpp"
#include "digest.hpp"
#include "hygiene.hpp"
#include "local_check.hpp"
#include "metrics.hpp"
#include "redis_topology.hpp"
#include "scope.hpp"
#include "token.hpp"
#include "usage_flush.hpp"

using apikey::Outcome;

static ngx_int_t ngx_http_apikey_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_apikey_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_apikey_init_process(ngx_cycle_t *cycle);
static void ngx_http_apikey_exit_process(ngx_cycle_t *cycle);


static ngx_http_module_t  ngx_http_apikey_module_ctx = {
    ngx_http_apikey_guard<ngx_http_apikey_preconfiguration>,  /* preconfiguration */
    ngx_http_apikey_guard<ngx_http_apikey_init>,   /* postconfiguration */

    ngx_http_apikey_guard<ngx_http_apikey_create_main_conf>,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_apikey_guard<ngx_http_apikey_create_loc_conf>,   /* create location configuration */
    ngx_http_apikey_guard<ngx_http_apikey_merge_loc_conf>     /* merge location configuration */
};


ngx_module_t  ngx_http_apikey_module = {
    NGX_MODULE_V1,
    &ngx_http_apikey_module_ctx,           /* module context */
    ngx_http_apikey_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_apikey_guard<ngx_http_apikey_init_process>,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_apikey_guard<ngx_http_apikey_exit_process>,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


// The worker's Redis connections (and, with apikey_cache, its subscription to
// <prefix>invalidate), made in init_process and released in exit_process:
// shared by all the worker's requests.
static apikey::RedisTopology    *ngx_http_apikey_worker_redis;

// apikey_cache: the cache the invalidation messages act on.
static ngx_http_apikey_cache_t  *ngx_http_apikey_worker_cache;


static void
ngx_http_apikey_on_subscribed()
{
    // changes may have gone unseen while there was no subscription
    ngx_http_apikey_cache_flush(ngx_http_apikey_worker_cache);

    // and this worker can hear invalidations again: it counts for --wait
    ngx_http_apikey_announce_now();
}


static void
ngx_http_apikey_on_invalidation(std::string_view text)
{
    // "ID", or "ID EVENT TIME_US" to be acknowledged (announce.cpp)
    ngx_http_apikey_invalidation_message(text);
}

static time_t  ngx_http_apikey_last_logged[NGX_HTTP_APIKEY_LOG_KINDS];


apikey::RedisTopology *
ngx_http_apikey_redis()
{
    return ngx_http_apikey_worker_redis;
}


ngx_uint_t
ngx_http_apikey_log_allowed(ngx_uint_t kind)
{
    time_t              now = ngx_time();
    ngx_atomic_t       *shared;
    ngx_atomic_uint_t   last;

    if (ngx_http_apikey_metrics != NULL) {
        // one line a second from every worker together: the first to claim
        // this second writes it. Only a later second may be claimed: each
        // worker's cached clock is updated on its own, and a worker still on
        // the second before must not take that second back (two lines in it)
        shared = &ngx_http_apikey_metrics->last_logged[kind];
        last = *shared;
        return static_cast<ngx_atomic_uint_t>(now) > last
               && ngx_atomic_cmp_set(shared, last, static_cast<ngx_atomic_uint_t>(now));
    }

    if (ngx_http_apikey_last_logged[kind] == now) {
        return 0;
    }

    ngx_http_apikey_last_logged[kind] = now;
    return 1;
}


static void
ngx_http_apikey_cleanup(void *data)
{
    ngx_http_apikey_cancel_check(static_cast<ngx_http_apikey_ctx_t *>(data));
}


ngx_http_apikey_ctx_t *
ngx_http_apikey_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_apikey_ctx_t  *ctx;

    ctx = static_cast<ngx_http_apikey_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_apikey_module));

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        // an internal redirect cleared r->ctx; the check already happened
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_apikey_guard<ngx_http_apikey_cleanup>) {
                ctx = static_cast<ngx_http_apikey_ctx_t *>(cln->data);
                ngx_http_set_ctx(r, ctx, ngx_http_apikey_module);
                break;
            }
        }
    }

    return ctx;
}


static ngx_http_apikey_ctx_t *
ngx_http_apikey_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_apikey_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_apikey_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = static_cast<ngx_http_apikey_ctx_t *>(cln->data);
    ngx_memzero(ctx, sizeof(ngx_http_apikey_ctx_t));
    ctx->request = r;
    ctx->outcome = Outcome::kError;
    ctx->credits = -1;   // none known: $apikey_credits_remaining is empty

    cln->handler = ngx_http_apikey_guard<ngx_http_apikey_cleanup>;
    ngx_http_set_ctx(r, ctx, ngx_http_apikey_module);

    return ctx;
}


static void
ngx_http_apikey_log_refusal(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    std::string_view word = apikey::result_word(ctx->outcome);

    if (ctx->outcome == Outcome::kError) {
        return;   // already logged, rate-limited, where the fault was seen
    }

    // as limit_req_dry_run: the same line at the same level, marked
    const char *dry = ctx->dry_run ? "dry run, would have " : "";

    if (ctx->id.len) {
        ngx_log_error(lcf->log_level, r->connection->log, 0,
                      "apikey: %srefused key \"%V\": %*s", dry, &ctx->id,
                      word.size(), word.data());
    } else {
        ngx_log_error(lcf->log_level, r->connection->log, 0,
                      "apikey: %srefused request: %*s", dry, word.size(), word.data());
    }
}


// The script's decision on a cached record (decide_cached: the same order of
// tests, by Redis's clock `now`), into the request context as a reply would
// put it.
static apikey::Verdict
ngx_http_apikey_decide_cached(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, const apikey::CachedRecord &cached, int64_t now)
{
    std::string_view  missing;

    auto str = [](std::string_view s) {
        ngx_str_t v = { s.size(), reinterpret_cast<u_char *>(const_cast<char *>(s.data())) };
        return v;
    };

    apikey::CheckRequest request;
    request.required = ngx_http_apikey_sv(ctx->required);
    request.super = ngx_http_apikey_sv(lcf->superscopes);
    request.env = lcf->env == NGX_HTTP_APIKEY_ENV_LIVE ? "live"
                  : lcf->env == NGX_HTTP_APIKEY_ENV_TEST ? "test" : "";
    request.client = ngx_http_apikey_sv(r->connection->addr_text);   // $remote_addr

    apikey::Verdict verdict = apikey::decide_cached(cached, now, request, missing);

    ctx->outcome = apikey::outcome_of(verdict);

    if (verdict == apikey::Verdict::kInvalid) {
        ngx_str_null(&ctx->id);
        return verdict;
    }

    ctx->name = str(cached.name);
    ctx->scopes = str(cached.scopes);
    ctx->hint = str(cached.hint);
    ctx->own_limits = str(cached.limits);
    ctx->owner = str(cached.owner);
    ctx->role = str(cached.role);
    ctx->plan = str(cached.plan);
    ctx->env = str(cached.env);
    ctx->meta = str(cached.meta);
    ctx->allow_ip = str(cached.allow_ip);
    ctx->own_quota = str(cached.quota);
    ctx->has_credits = cached.has_credits ? 1 : 0;
    ctx->missing_scope = str(missing);
    ctx->expires = cached.expires;
    ctx->created = cached.created;
    ctx->last_used = cached.last_used;
    ctx->token_until = cached.token_until;

    return verdict;
}


// apikey_fail_mode cached: Redis could not answer this check (not connected,
// timed out, an error reply, no master named). A key the cache saw active
// within max_age is decided from its entry as on a cache hit, scopes and
// expiry included, and its buckets are this host's (apikey_local_limits) with
// the same limits; any other key stays refused with 503. Nothing is written
// to Redis. Trade-off (README): a key revoked where this nginx cannot hear it
// works here until max_age.
static void
ngx_http_apikey_last_known_good(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    apikey::CachedRecord          cached;
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (mcf->cache == NULL || ctx->digest.len == 0) {
        return;
    }

    ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_FAIL_CACHED, NGX_LOG_WARN,
                                r->connection->log, 0,
                                "apikey: redis unavailable, admitting only keys confirmed "
                                "within %T s (apikey_fail_mode cached)", lcf->fail_max_age);

    if (ngx_http_apikey_cache_last_known(mcf->cache, ctx->digest_bin, r, &cached,
                                         lcf->fail_max_age) != NGX_OK)
    {
        ngx_http_apikey_count(fail_cached[NGX_HTTP_APIKEY_LKG_UNKNOWN], 1);
        return;   // still kError: 503
    }

    apikey::Verdict verdict = ngx_http_apikey_decide_cached(
        r, ctx, lcf, cached, ngx_http_apikey_redis_now(cached.clock_offset_ms));

    if (verdict == apikey::Verdict::kOk && cached.has_credits && lcf->cost > 0) {
        // credits are sold uses: none is given away while they cannot be
        // counted (quotas, a ceiling rather than a sale, are not enforced
        // meanwhile: README "Quotas and credits")
        ctx->outcome = Outcome::kError;
        ngx_http_apikey_count(fail_cached[NGX_HTTP_APIKEY_LKG_REFUSED], 1);
        return;
    }

    if (verdict == apikey::Verdict::kOk && lcf->bucket_sets && lcf->bucket_sets->nelts) {
        ngx_http_apikey_take_local(r, ctx, lcf);
    }

    if (ctx->outcome == Outcome::kOk) {
        ctx->lkg_admitted = 1;
        ngx_http_apikey_count(fail_cached[NGX_HTTP_APIKEY_LKG_ADMITTED], 1);
    } else {
        ngx_http_apikey_count(fail_cached[NGX_HTTP_APIKEY_LKG_REFUSED], 1);
    }
}


// The check is done: let the request through, or refuse it.
static ngx_int_t
ngx_http_apikey_decide(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    ngx_str_t  required;

    ctx->state = NGX_HTTP_APIKEY_DONE;

    // this location's say (after an internal redirect, the new location's)
    ctx->dry_run = lcf->dry_run ? 1 : 0;

    if (ctx->outcome == Outcome::kError && lcf->fail_mode == NGX_HTTP_APIKEY_FAIL_CACHED
        && !ctx->fail_cached)
    {
        ctx->fail_cached = 1;   // once: not again after an internal redirect
        ngx_http_apikey_last_known_good(r, ctx, lcf);
    }

    if (!ctx->counted) {
        ctx->counted = 1;
        ngx_http_apikey_count_outcome(ctx->outcome, ctx->dry_run);
        // per-key usage counts the check's outcome, as the metrics do (a
        // location's own scopes after an internal redirect are not a second
        // request)
        ngx_http_apikey_usage_count(ctx->id, ctx->outcome);
    }

    if (ctx->outcome == Outcome::kOk && ctx->checked_for != lcf) {
        // after an internal redirect: the key was checked and charged once;
        // only this location's environment, the address (a location's
        // real_ip may have changed it) and its scopes still need checking,
        // locally, in the order of the check
        if (ngx_http_apikey_required_scopes(r, lcf, &required) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        apikey::ScopeDecision d = apikey::check_scopes(ngx_http_apikey_sv(ctx->scopes),
                                                       ngx_http_apikey_sv(required),
                                                       ngx_http_apikey_sv(lcf->superscopes));
        std::string_view env = lcf->env == NGX_HTTP_APIKEY_ENV_LIVE ? "live"
                               : lcf->env == NGX_HTTP_APIKEY_ENV_TEST ? "test" : "";
        if (!apikey::env_accepts(env, ngx_http_apikey_sv(ctx->env))) {
            ctx->outcome = apikey::outcome_of(apikey::Verdict::kWrongEnv);

        } else if (!apikey::cidr_list_allows(ngx_http_apikey_sv(ctx->allow_ip),
                                             ngx_http_apikey_sv(r->connection->addr_text)))
        {
            ctx->outcome = apikey::outcome_of(apikey::Verdict::kIpDenied);

        } else if (!d.allowed) {
            ctx->outcome = apikey::outcome_of(apikey::Verdict::kForbidden);
            ctx->missing_scope.data = reinterpret_cast<u_char *>(
                const_cast<char *>(d.missing.data()));
            ctx->missing_scope.len = d.missing.size();
        }

        ctx->checked_for = lcf;
    }

    if (ctx->outcome == Outcome::kError && lcf->fail_mode == NGX_HTTP_APIKEY_FAIL_OPEN) {
        // the operator chose availability over enforcement: let the request
        // through, loudly ($apikey_result stays "error")
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_FAIL_OPEN, NGX_LOG_WARN,
                                    r->connection->log, 0,
                                    "apikey: redis unavailable, passing requests unchecked "
                                    "(apikey_fail_mode open)");
    } else if (ctx->outcome != Outcome::kOk) {
        ngx_http_apikey_log_refusal(r, ctx, lcf);
        if (!ctx->dry_run || ctx->outcome == Outcome::kError) {
            return ngx_http_apikey_deny(r, ctx);
        }
        // apikey_dry_run: logged and counted as a refusal, and let through;
        // $apikey_result says what it would have been. A Redis failure is
        // not a refusal of the key: apikey_fail_mode decides it, as always.
    }

    if (lcf->strip_credentials && ngx_http_apikey_strip_credentials(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_imported_id(ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *id)
{
    std::array<char, apikey::kImportedIdLength>  derived;
    ngx_http_apikey_main_conf_t                  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (!apikey::imported_key_id(
            std::string_view(reinterpret_cast<const char *>(key->data), key->len),
            std::string_view(reinterpret_cast<const char *>(mcf->hash_secret.data),
                             mcf->hash_secret.len),
            derived))
    {
        return NGX_ERROR;
    }

    id->len = derived.size();
    id->data = static_cast<u_char *>(ngx_pnalloc(r->pool, id->len));
    if (id->data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(id->data, derived.data(), id->len);

    return NGX_OK;
}


static bool
ngx_http_apikey_over_tls(ngx_http_request_t *r)
{
#if (NGX_SSL || NGX_COMPAT)
    return r->connection->ssl != NULL;
#else
    return false;
#endif
}


// What every path needs once: the token's digest (the script's argument and
// the cache's key) and the scopes this location requires.
static ngx_int_t
ngx_http_apikey_prepare(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, ngx_str_t *key)
{
    apikey::DigestHex             hex;
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (!apikey::token_digest(
            std::string_view(reinterpret_cast<const char *>(key->data), key->len),
            std::string_view(reinterpret_cast<const char *>(mcf->hash_secret.data),
                             mcf->hash_secret.len),
            hex))
    {
        return NGX_ERROR;
    }

    ctx->digest.data = static_cast<u_char *>(ngx_pnalloc(r->pool, hex.size()));
    if (ctx->digest.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(ctx->digest.data, hex.data(), hex.size());
    ctx->digest.len = hex.size();

    apikey::digest_bytes(hex, ctx->digest_bin);

    return ngx_http_apikey_required_scopes(r, lcf, &ctx->required);
}


// Sends the script and waits (NGX_AGAIN), or refuses at once when there is no
// usable Redis connection (the worker is backing off: fail fast, never hang).
static ngx_int_t
ngx_http_apikey_ask_redis(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, bool limit_only, bool record_use)
{
    ngx_int_t  rc = ngx_http_apikey_send_check(r, ctx, lcf, limit_only, record_use);

    if (rc != NGX_ERROR) {
        return rc;
    }

    ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_CONNECT, NGX_LOG_ERR, r->connection->log, 0,
                                "apikey: redis is not connected, %s",
                                lcf->fail_mode == NGX_HTTP_APIKEY_FAIL_CACHED
                                ? "only last-known-good keys pass" : "refusing the request");
    ctx->outcome = Outcome::kError;
    return ngx_http_apikey_decide(r, ctx, lcf);
}


// A cache hit: the decision the script would make (decide_cached, the same
// order of tests, by Redis's clock), mapped to an outcome the one way the
// script's verdicts are (outcome_of), with last use recorded by the same rule
// (records_use). Redis is asked only for the rate limit, and only when the
// buckets live there.
static ngx_int_t
ngx_http_apikey_from_cache(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, ngx_http_apikey_cache_t *cache,
    const apikey::CachedRecord &cached, int64_t use_mark)
{
    int64_t now = ngx_http_apikey_redis_now(cached.clock_offset_ms);

    apikey::Verdict verdict = ngx_http_apikey_decide_cached(r, ctx, lcf, cached, now);

    if (verdict == apikey::Verdict::kInvalid) {
        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    time_t interval = lcf->last_used_interval;
    bool record_use = apikey::records_use(verdict) && interval > 0 && now - use_mark >= interval
                      && ngx_http_apikey_cache_claim_use(cache, ctx->digest_bin, now, interval);

    if (record_use) {
        ctx->last_used = now;
    }

    bool limited = lcf->bucket_sets && lcf->bucket_sets->nelts;

    // quotas and credits are counted in Redis whatever the buckets' store
    bool counted = lcf->quota_spec.len || ctx->own_quota.len || ctx->has_credits;

    if (ctx->outcome != Outcome::kOk || ((!limited || lcf->local_limits) && !counted)) {
        if (ctx->outcome == Outcome::kOk && limited) {
            ngx_http_apikey_take_local(r, ctx, lcf);
        }
        if (record_use) {
            ngx_http_apikey_record_use(r, ctx);
        }
        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    // the buckets are in Redis: one cheaper round trip ("limit" mode)
    return ngx_http_apikey_ask_redis(r, ctx, lcf, true, record_use);
}


static ngx_int_t
ngx_http_apikey_start(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    ngx_str_t                     key, id;
    apikey::Outcome               found;
    ngx_http_apikey_main_conf_t  *mcf;

    ctx->checked_for = lcf;

    // 1. the credential: exactly one key, well-formed
    found = ngx_http_apikey_find_credential(r, ctx, &key);
    if (found != Outcome::kOk) {
        ctx->outcome = found;
        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    // a key that crossed the network in clear text is compromised: refuse it
    // without even looking it up
    if (lcf->require_tls && !ngx_http_apikey_over_tls(r)) {
        ctx->outcome = Outcome::kInsecure;
        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    // 2. cheap checks: the checksum catches typos and made-up tokens for free
    apikey::ParsedToken token = apikey::parse_token(
        std::string_view(reinterpret_cast<const char *>(key.data), key.len));

    // the id is public (it is in every log line about this key); keep a copy
    if (token.shape == apikey::TokenShape::kProject) {
        id.len = token.id.size();
        id.data = static_cast<u_char *>(ngx_pnalloc(r->pool, id.len));
        if (id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(id.data, token.id.data(), id.len);

    } else if (token.shape == apikey::TokenShape::kForeign && lcf->accept_imported
               && key.len >= apikey::kMinImportedTokenLength)
    {
        // an imported legacy token: no checksum to check, and its id is
        // derived from the token (apikeyctl import computes the same)
        if (ngx_http_apikey_imported_id(r, &key, &id) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ctx->outcome = Outcome::kMalformed;
        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    ctx->id = id;

    if (ngx_http_apikey_prepare(r, ctx, lcf, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    // 3. the cache, where one is configured and this worker's subscription
    //    to invalidations stands
    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (mcf->cache && ngx_http_apikey_worker_redis && ngx_http_apikey_worker_redis->subscribed()) {
        apikey::CachedRecord  cached;
        int64_t               use_mark;

        if (ngx_http_apikey_cache_lookup(mcf->cache, ctx->digest_bin, r, &cached, &use_mark)
            == NGX_OK)
        {
            return ngx_http_apikey_from_cache(r, ctx, lcf, mcf->cache, cached, use_mark);
        }

        // read before the check goes out: a change announced from now on
        // keeps its reply out of the cache
        ctx->cache_store = 1;
        ctx->cache_generation = ngx_http_apikey_cache_generation(mcf->cache);
    }

    // 4. Redis: record, status, expiry, scopes and buckets in one round trip
    return ngx_http_apikey_ask_redis(r, ctx, lcf, false, false);
}


// While the check waits for Redis, a client that closes its connection (or,
// over HTTP/2, resets the stream) ends the request at once, as limit_req's
// delay does: the pool cleanup then cancels the check. Without this the
// request would hold its memory, connection and Redis slot until the reply or
// the timeout.
static void
ngx_http_apikey_watch_client(ngx_http_request_t *r)
{
    ngx_event_t  *rev = r->connection->read;

    r->read_event_handler = ngx_http_test_reading;

    if (rev->ready) {
        // the close may have been seen already (edge-triggered: it will not
        // be reported again)
        ngx_post_event(rev, &ngx_posted_events);
    }
}


static ngx_int_t
ngx_http_apikey_access_handler(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_apikey_loc_conf_t  *lcf;

    lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    // the admin page (its API calls carry the key), and a method that
    // "who am I" does not serve: no key looked at, no token taken
    if ((lcf->admin && ngx_http_apikey_admin_public(r))
        || (lcf->introspect && !(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))))
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_apikey_get_ctx(r);

    if (ctx != NULL) {
        if (ctx->state == NGX_HTTP_APIKEY_WAITING) {
            return NGX_AGAIN;
        }

        if (r->read_event_handler == ngx_http_test_reading) {
            r->read_event_handler = ngx_http_block_reading;
        }

        return ngx_http_apikey_decide(r, ctx, lcf);
    }

    ctx = ngx_http_apikey_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_int_t rc = ngx_http_apikey_start(r, ctx, lcf);

    if (rc == NGX_AGAIN) {
        ngx_http_apikey_watch_client(r);
    }

    return rc;

}


static ngx_int_t
ngx_http_apikey_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_apikey_add_variables(cf);
}


static ngx_int_t
ngx_http_apikey_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_apikey_main_conf_t  *mcf;
    ngx_http_apikey_loc_conf_t   *hlcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_apikey_module));
    hlcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_apikey_module));

    // the fixed refusal bodies are built here, once, in the master: the
    // workers inherit them, and a refusal allocates nothing
    (void) apikey::fixed_denial_body(Outcome::kMissing);

    if (mcf->batch == NGX_CONF_UNSET) {
        mcf->batch = 1;
    }

    // the connect timeout is the http-level apikey_redis_timeout
    mcf->connect_timeout = hlcf->timeout != NGX_CONF_UNSET_MSEC ? hlcf->timeout : 200;

    cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));

    h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_apikey_guard<ngx_http_apikey_access_handler, NGX_HTTP_INTERNAL_SERVER_ERROR>;

    if (ngx_http_apikey_metrics_zone(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_responses_init(cf);
}


static ngx_int_t
ngx_http_apikey_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apikey_main_conf_t  *mcf;

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module) == NULL) {
        return NGX_OK;   // no http block
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apikey_module));

    // only processes that serve requests count and talk to Redis (not the
    // cache manager or loader)
    if (mcf == NULL || (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)) {
        return NGX_OK;
    }

    ngx_http_apikey_metrics_attach(mcf);

    if (mcf->redis.len == 0) {
        return NGX_OK;
    }

    ngx_http_apikey_worker_redis = new (std::nothrow) apikey::RedisTopology(mcf, cycle->log);
    if (ngx_http_apikey_worker_redis == NULL) {
        return NGX_ERROR;
    }

    ngx_http_apikey_worker_cache = mcf->cache;

    if (mcf->cache) {
        ngx_http_apikey_announce_init(mcf, cycle);
    }

    if (!ngx_http_apikey_worker_redis->start(
            mcf->cache ? ngx_http_apikey_on_subscribed : NULL,
            mcf->cache ? ngx_http_apikey_on_invalidation : NULL))
    {
        return NGX_ERROR;
    }

    if (mcf->key_stats && ngx_http_apikey_hygiene_start(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_usage_start(cycle);
}


static void
ngx_http_apikey_exit_process(ngx_cycle_t *cycle)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_worker_redis;

    // this worker no longer hears invalidations: waiters stop counting it
    ngx_http_apikey_announce_withdraw();

    // reply callbacks run while the connections are closed: they must find
    // no topology
    ngx_http_apikey_hygiene_stop();
    ngx_http_apikey_worker_redis = NULL;
    delete redis;
    ngx_http_apikey_hygiene_release();
    ngx_http_apikey_usage_release();
}


ngx_str_t
ngx_http_apikey_pool_copy(ngx_pool_t *pool, std::string_view s)
{
    ngx_str_t  out = ngx_null_string;

    if (s.empty()) {
        return out;
    }

    out.data = static_cast<u_char *>(ngx_pnalloc(pool, s.size()));
    if (out.data != NULL) {
        ngx_memcpy(out.data, s.data(), s.size());
        out.len = s.size();
    }

    return out;
}
