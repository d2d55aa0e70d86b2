// The Redis round trip of a request: build the EVALSHA, wait without blocking,
// turn the reply into the request context, resume the request.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include <array>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cache.hpp"
#include "cidr.hpp"
#include "check_script.hpp"
#include "local_limits.hpp"
#include "digest.hpp"
#include "keyspace.hpp"
#include "metrics.hpp"
#include "rate.hpp"
#include "rate_headers.hpp"
#include "redis_topology.hpp"
#include "scope.hpp"
#include "topology.hpp"

using apikey::Outcome;
using apikey::RedisClient;

// What a request hands to Redis while it waits. hiredis's privdata points
// here, never at the request: when the request goes away first, `ctx` is set
// to NULL and the late reply lands harmlessly.
struct apikey::RedisPending {
    ngx_http_apikey_ctx_t  *ctx;
    int                     slot;      // of the key's hash tag (Redis Cluster)
    RedisClient            *sent_to;   // the connection it is waiting on
    uint64_t                sent_us;   // for the round-trip histogram
    bool                    retried;   // NOSCRIPT already handled once, on sent_to
    bool                    asking;    // sent after ASKING (a cluster's ASK)
    ngx_uint_t              hops;      // cluster redirects in a row
    bool                    timed_out; // counted in redis_timeouts: never again as an error
    ngx_event_t             retry;     // send again shortly (TRYAGAIN, no master yet)
};

using apikey::RedisPending;

// MOVED and ASK redirects followed in a row: more means the nodes disagree
// about the map, and the check fails rather than bounce.
static constexpr ngx_uint_t  ngx_http_apikey_max_hops = 16;

// While a cluster slot is being migrated, a check whose keys are not all on
// one side (some moved, or a bucket that does not exist yet) is refused with
// -TRYAGAIN until the slot is handed over: tried again this often, until the
// request's apikey_redis_timeout. So is a check waiting for the sentinels to
// name the master.
static constexpr ngx_msec_t  ngx_http_apikey_retry_delay = 5;

static void ngx_http_apikey_check_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_apikey_apply_reply(RedisClient *client, redisReply *reply,
    RedisPending *pending);
static void ngx_http_apikey_batch_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void ngx_http_apikey_flush_batch(ngx_event_t *ev);
static bool ngx_http_apikey_dispatch(RedisPending *pending, RedisClient *to, bool asking);
static void ngx_http_apikey_send_later(RedisPending *pending);
static void ngx_http_apikey_ignore_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_apikey_finish_check(ngx_http_apikey_ctx_t *ctx, RedisPending *pending);
static void ngx_http_apikey_retry_check(ngx_event_t *ev);
static void ngx_http_apikey_wake_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_apikey_store_reply(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, const apikey::CheckReply &reply);


// Redis's clock as this worker sees it: every script reply carries Redis's
// TIME (ms), and the reply's round trip bounds when the script ran. The offset
// (Redis minus worker) is learnt from the tightest recent sample: one with a
// shorter round trip, or any once the kept one is ten seconds old (clocks
// drift and get stepped). Before the first reply it is taken to be zero: the
// clocks are assumed to agree (NTP).
struct ngx_http_apikey_redis_clock_t {
    int64_t   offset_ms;     // midpoint estimate
    int64_t   half_rtt_ms;   // its uncertainty, either way
    time_t    sampled_at;
    bool      known;
};

static ngx_http_apikey_redis_clock_t  ngx_http_apikey_clock;

static constexpr time_t  ngx_http_apikey_clock_sample_age = 10;


// The worker's wall clock now, in ms (not the event loop's cached time: the
// sample is paired with a round trip measured to the microsecond).
static int64_t
ngx_http_apikey_wall_ms()
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}


// `force`: the kept sample has just proved wrong.
static void
ngx_http_apikey_learn_clock(int64_t redis_ms, uint64_t rtt_us, bool force)
{
    int64_t   recv_ms = ngx_http_apikey_wall_ms();
    int64_t   half = static_cast<int64_t>(rtt_us / 2000) + 1;
    int64_t   mid = redis_ms - (recv_ms - half);
    time_t    now = ngx_time();
    ngx_http_apikey_redis_clock_t  *c = &ngx_http_apikey_clock;

    if (force || !c->known || half <= c->half_rtt_ms
        || now - c->sampled_at >= ngx_http_apikey_clock_sample_age)
    {
        c->offset_ms = mid;
        c->half_rtt_ms = half;
        c->sampled_at = now;
        c->known = true;
    }
}


int64_t
ngx_http_apikey_redis_offset_ms()
{
    return ngx_http_apikey_clock.offset_ms;
}


int64_t
ngx_http_apikey_redis_now(int64_t fallback_offset_ms)
{
    ngx_time_t  *tp = ngx_timeofday();
    int64_t      offset = ngx_http_apikey_clock.known ? ngx_http_apikey_clock.offset_ms
                                                      : fallback_offset_ms;

    return (static_cast<int64_t>(tp->sec) * 1000 + tp->msec + offset) / 1000;
}


// When the module gives up on a call sent now, on Redis's clock: late rather
// than early by the offset's uncertainty, so that a call the module still
// waits for is never taken for a late one.
static int64_t
ngx_http_apikey_deadline_ms(ngx_msec_t timeout)
{
    return ngx_http_apikey_wall_ms() + static_cast<int64_t>(timeout)
           + ngx_http_apikey_clock.offset_ms + ngx_http_apikey_clock.half_rtt_ms;
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


ngx_str_t
ngx_http_apikey_format_command(ngx_pool_t *pool, const std::string_view *args, size_t n)
{
    ngx_str_t  out = ngx_null_string;
    size_t     len, k;
    u_char    *p;

    len = sizeof("*\r\n") - 1 + NGX_SIZE_T_LEN;
    for (k = 0; k < n; k++) {
        len += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + args[k].size();
    }

    p = static_cast<u_char *>(ngx_pnalloc(pool, len));
    if (p == NULL) {
        return out;
    }

    out.data = p;
    p = ngx_sprintf(p, "*%uz\r\n", n);
    for (k = 0; k < n; k++) {
        p = ngx_sprintf(p, "$%uz\r\n", args[k].size());
        p = ngx_cpymem(p, args[k].data(), args[k].size());
        *p++ = '\r';
        *p++ = '\n';
    }
    out.len = p - out.data;

    return out;
}


// The scopes every `apikey_scope` line matching this method names, joined by
// spaces. Lines whose value is empty (a map that says "nothing needed here")
// require nothing. When every line names methods and none names this one
// (PURGE, PROPFIND, OPTIONS where only GET and POST are named), the request
// needs a scope no key can hold: only a superscope lets it through. An
// unlisted method is a method nobody thought about, not a free one.
ngx_int_t
ngx_http_apikey_required_scopes(ngx_http_request_t *r, ngx_http_apikey_loc_conf_t *lcf,
    ngx_str_t *out)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                     *values;
    ngx_uint_t                     i, n, method;
    bool                           named;
    ngx_http_apikey_scope_line_t  *lines;

    ngx_str_null(out);

    if (lcf->scopes == NULL || lcf->scopes->nelts == 0) {
        return NGX_OK;
    }

    // GET lines cover HEAD, as limit_except does
    method = (r->method == NGX_HTTP_HEAD) ? (NGX_HTTP_GET | NGX_HTTP_HEAD) : r->method;

    lines = static_cast<ngx_http_apikey_scope_line_t *>(lcf->scopes->elts);
    values = static_cast<ngx_str_t *>(ngx_pcalloc(r->pool,
                                                  lcf->scopes->nelts * sizeof(ngx_str_t)));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = 0;
    n = 0;
    named = false;

    for (i = 0; i < lcf->scopes->nelts; i++) {
        if (lines[i].methods && !(lines[i].methods & method)) {
            continue;
        }

        named = true;

        if (ngx_http_complex_value(r, &lines[i].value, &values[n]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (values[n].len == 0) {
            continue;
        }

        if (!apikey::valid_scope_list(std::string_view(
                reinterpret_cast<const char *>(values[n].data), values[n].len)))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "apikey: \"apikey_scope\" evaluated to an invalid scope list \"%V\"",
                          &values[n]);
            return NGX_ERROR;
        }

        len += values[n].len + 1;
        n++;
    }

    if (!named) {
        out->data = reinterpret_cast<u_char *>(
            const_cast<char *>(apikey::kUnlistedMethodScope.data()));
        out->len = apikey::kUnlistedMethodScope.size();
        return NGX_OK;
    }

    if (n == 0) {
        return NGX_OK;
    }

    p = static_cast<u_char *>(ngx_pnalloc(r->pool, len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ' ';
        }
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


// Batched checks (apikey_redis_batch on). The checks of one turn of the
// worker's event loop that go to the same connection wait in `waiting`
// until the loop has run every ready event; then one posted event sends
// them as one "batch" call of the script, which runs each as its own call
// would, in order. Nothing waits for a batch to fill: a lone check goes out
// at the end of the same turn, as one ordinary call. Not on a Redis Cluster,
// where the checks of one turn hardly ever share a slot (a call's keys must),
// and the cost of grouping them by slot would buy nothing.
struct ngx_http_apikey_batch_t {
    std::vector<RedisPending *>  waiting;
    RedisClient                 *to = nullptr;
    ngx_event_t                  flush;
    std::string                  command;   // reused: no allocation per batch once grown
};

static ngx_http_apikey_batch_t  *ngx_http_apikey_batch;

// A batch on its way: the checks it carries, in the order of its elements.
struct ngx_http_apikey_sent_batch_t {
    std::vector<RedisPending *>  pendings;
};


static bool
ngx_http_apikey_batching(RedisClient *to)
{
    apikey::RedisTopology        *redis = ngx_http_apikey_redis();
    ngx_http_apikey_main_conf_t  *mcf;

    if (redis == NULL || redis->cluster()) {
        return false;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_apikey_module));

    return mcf != NULL && mcf->batch && to != NULL;
}


static bool
ngx_http_apikey_batch_add(RedisPending *pending, RedisClient *to)
{
    ngx_http_apikey_batch_t  *batch = ngx_http_apikey_batch;

    if (batch == NULL) {
        batch = new (std::nothrow) ngx_http_apikey_batch_t();
        if (batch == NULL) {
            return false;
        }
        batch->flush.handler = ngx_http_apikey_guard<ngx_http_apikey_flush_batch>;
        batch->flush.data = batch;
        batch->flush.log = ngx_cycle->log;
        ngx_http_apikey_batch = batch;
    }

    if (batch->to != to && !batch->waiting.empty()) {
        // another connection now (a sentinel named a new master): what waits
        // goes to the one it was meant for first
        ngx_http_apikey_flush_batch(&batch->flush);
    }

    try {
        batch->waiting.push_back(pending);
    } catch (...) {
        return false;   // out of memory: this check fails as an unsendable one
    }
    batch->to = to;

    if (!batch->flush.posted) {
        ngx_post_event(&batch->flush, &ngx_posted_events);
    }

    return true;
}


// A check that could not be sent with its batch: as when a lone check
// cannot be sent, it fails now (or waits for the sentinels to name a master).
static void
ngx_http_apikey_unsent(RedisPending *pending)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (pending->ctx == NULL) {
        delete pending;
        return;
    }

    if (redis != NULL && redis->awaiting_master()) {
        ngx_http_apikey_send_later(pending);
        return;
    }

    pending->ctx->outcome = Outcome::kError;
    ngx_http_apikey_finish_check(pending->ctx, pending);
}


static void
ngx_http_apikey_append_bulk(std::string &out, std::string_view s)
{
    char  len[NGX_SIZE_T_LEN + 4];

    u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(len), "$%uz\r\n", s.size());
    out.append(len, reinterpret_cast<char *>(end) - len);
    out.append(s.data(), s.size());
    out.append("\r\n", 2);
}


static void
ngx_http_apikey_append_number(std::string &out, ngx_uint_t n)
{
    char  text[NGX_INT_T_LEN];

    u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(text), "%ui", n);
    ngx_http_apikey_append_bulk(out, std::string_view(text, reinterpret_cast<char *>(end) - text));
}


static void
ngx_http_apikey_flush_batch(ngx_event_t *ev)
{
    auto                          *batch = static_cast<ngx_http_apikey_batch_t *>(ev->data);
    ngx_http_apikey_main_conf_t   *mcf;
    ngx_uint_t                     nkeys, nargs, n;
    RedisClient                   *to = batch->to;

    // the checks still wanted (a request that went away left its record)
    std::vector<RedisPending *> checks;
    checks.reserve(batch->waiting.size());
    for (RedisPending *pending : batch->waiting) {
        if (pending->ctx == NULL) {
            delete pending;
        } else {
            checks.push_back(pending);
        }
    }
    batch->waiting.clear();

    if (checks.empty()) {
        return;
    }

    if (checks.size() == 1) {
        RedisPending *pending = checks[0];
        if (!to->send_formatted(pending->ctx->command,
                                ngx_http_apikey_guard<ngx_http_apikey_check_reply>, pending))
        {
            ngx_http_apikey_unsent(pending);
        }
        return;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_apikey_module));

    // EVALSHA sha numkeys <every check's keys> batch n <per check: nkeys
    // nargs args...>
    nkeys = 0;
    nargs = 0;
    for (RedisPending *pending : checks) {
        nkeys += pending->ctx->check_nkeys;
        nargs += 2 + pending->ctx->check_nargs;
    }

    std::string &out = batch->command;
    out.clear();
    out += '*';
    out += std::to_string(3 + nkeys + 2 + nargs);
    out += "\r\n";
    ngx_http_apikey_append_bulk(out, "EVALSHA");
    ngx_http_apikey_append_bulk(out, std::string_view(
        reinterpret_cast<const char *>(mcf->script_sha.data), mcf->script_sha.len));
    ngx_http_apikey_append_number(out, nkeys);
    for (RedisPending *pending : checks) {
        for (n = 0; n < pending->ctx->check_nkeys; n++) {
            ngx_http_apikey_append_bulk(out, pending->ctx->check_args[n]);
        }
    }
    ngx_http_apikey_append_bulk(out, "batch");
    ngx_http_apikey_append_number(out, checks.size());
    for (RedisPending *pending : checks) {
        ngx_http_apikey_ctx_t *ctx = pending->ctx;
        ngx_http_apikey_append_number(out, ctx->check_nkeys);
        ngx_http_apikey_append_number(out, ctx->check_nargs);
        for (n = 0; n < ctx->check_nargs; n++) {
            ngx_http_apikey_append_bulk(out, ctx->check_args[ctx->check_nkeys + n]);
        }
    }

    auto *sent = new (std::nothrow) ngx_http_apikey_sent_batch_t();
    bool ok = sent != NULL;
    if (ok) {
        sent->pendings = std::move(checks);
        ngx_str_t command = {out.size(), reinterpret_cast<u_char *>(&out[0])};
        ok = to->send_formatted(command, ngx_http_apikey_guard<ngx_http_apikey_batch_reply>, sent);
    }

    if (!ok) {
        std::vector<RedisPending *> &unsent = sent ? sent->pendings : checks;
        for (RedisPending *pending : unsent) {
            ngx_http_apikey_unsent(pending);
        }
        delete sent;
        return;
    }

    ngx_http_apikey_count(batches, 1);
    ngx_http_apikey_count(batched_checks, sent->pendings.size());
}


// A batch's reply: each check gets its own element, as if it had been its
// own call's reply. An error for the whole call (NOSCRIPT, a busy or
// read-only server) or a lost connection is every check's.
static void
ngx_http_apikey_batch_reply(redisAsyncContext *ac, void *r_, void *privdata)
{
    auto         *reply = static_cast<redisReply *>(r_);
    auto         *sent = static_cast<ngx_http_apikey_sent_batch_t *>(privdata);
    RedisClient  *client = RedisClient::of(ac);
    size_t        i, n = sent->pendings.size();

    client->note_reply();

    if (apikey::reply_error_is(reply, "NOSCRIPT")) {
        // the scripts are loaded again once, and the checks sent again in
        // order behind them (batched again at the end of this turn)
        client->load_script();
        for (RedisPending *pending : sent->pendings) {
            if (pending->ctx == NULL) {
                delete pending;
            } else if (pending->retried || !ngx_http_apikey_dispatch(pending, client, false)) {
                ngx_http_apikey_apply_reply(client, reply, pending);   // fails it
            } else {
                pending->retried = true;
            }
        }
        delete sent;
        return;
    }

    bool split = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == n;

    for (i = 0; i < n; i++) {
        ngx_http_apikey_apply_reply(client, split ? reply->element[i] : reply, sent->pendings[i]);
    }

    delete sent;
}


// Sends a formatted check to `to` (after ASKING, for a cluster's ASK).
static bool
ngx_http_apikey_dispatch(RedisPending *pending, RedisClient *to, bool asking)
{
    static const char  *asking_argv[] = {"ASKING"};
    static const size_t asking_len[] = {6};

    if (to == NULL
        || (asking && !to->send(1, asking_argv, asking_len, ngx_http_apikey_guard<ngx_http_apikey_ignore_reply>, NULL)))
    {
        return false;
    }

    if (pending->sent_to != to) {
        pending->retried = false;   // a script load is per node
    }
    pending->sent_to = to;
    pending->asking = asking;
    pending->sent_us = ngx_http_apikey_now_us();

    if (!asking && ngx_http_apikey_batching(to)) {
        return ngx_http_apikey_batch_add(pending, to);
    }

    return to->send_formatted(pending->ctx->command, ngx_http_apikey_guard<ngx_http_apikey_check_reply>, pending);
}


// Sends the check again shortly: after a TRYAGAIN (the slot's keys were split
// by a migration a moment ago), or while the sentinels have not yet named the
// master. The request's own timeout bounds the waiting.
static void
ngx_http_apikey_send_later(RedisPending *pending)
{
    // the cycle's log, not the request's: freed with it
    ngx_http_apikey_init_timer(&pending->retry, ngx_http_apikey_guard<ngx_http_apikey_retry_check>, pending,
                               ngx_cycle->log);
    ngx_add_timer(&pending->retry, ngx_http_apikey_retry_delay);
}


static void
ngx_http_apikey_retry_check(ngx_event_t *ev)
{
    auto                   *pending = static_cast<RedisPending *>(ev->data);
    ngx_http_apikey_ctx_t  *ctx = pending->ctx;
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (ctx == NULL) {
        delete pending;   // the request went away meanwhile
        return;
    }

    if (redis != NULL && ngx_http_apikey_dispatch(pending, redis->for_slot(pending->slot), false)) {
        return;
    }

    if (redis != NULL && redis->awaiting_master()) {
        ngx_http_apikey_send_later(pending);
        return;
    }

    ctx->outcome = Outcome::kError;
    ngx_http_apikey_finish_check(ctx, pending);
}


// Sends the script: "check" (record and buckets) or, after a cache hit,
// "limit" (buckets only). Returns NGX_AGAIN while waiting, NGX_ERROR when
// Redis is not usable now (the caller answers 503), or
// NGX_HTTP_INTERNAL_SERVER_ERROR.
ngx_int_t
ngx_http_apikey_send_check(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, bool limit_only, bool record_use)
{
    int                            argc, i;
    char                           numkeys[NGX_INT_T_LEN];
    char                           deadline[NGX_INT64_LEN];
    ngx_uint_t                     nsets, k;
    RedisPending                  *pending;
    apikey::RedisTopology         *redis;
    ngx_http_apikey_main_conf_t   *mcf;
    ngx_http_apikey_bucket_set_t  *sets;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    redis = ngx_http_apikey_redis();
    if (redis == NULL) {
        return NGX_ERROR;
    }

    std::string_view prefix(reinterpret_cast<const char *>(mcf->prefix.data), mcf->prefix.len);
    std::string_view key_id(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len);

    // store=local buckets are taken in nginx, not sent
    nsets = (lcf->bucket_sets && !lcf->local_limits) ? lcf->bucket_sets->nelts : 0;
    sets = nsets ? static_cast<ngx_http_apikey_bucket_set_t *>(lcf->bucket_sets->elts) : NULL;

    // the quota counts' hash, when they may be counted (check_script.cpp:
    // declared but absent, it would stall a check during a slot migration)
    bool quota_key = lcf->quota_spec.len || (limit_only && ctx->own_quota.len);
    ngx_uint_t nkeys = 1 + nsets + (quota_key ? 1 : 0);

    // EVALSHA sha numkeys record bucket... [quota] mode arg2 arg3 arg4 arg5
    // deadline prefix env client spec... quotas cost
    argc = static_cast<int>(3 + nkeys + 9 + nsets + 2);

    auto *args = static_cast<std::string_view *>(
        ngx_palloc(r->pool, argc * sizeof(std::string_view)));
    if (args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    // arguments point at configuration or request data, or are copied into
    // the request pool; all live until the command is formatted below
    i = 0;
    auto push = [&](const void *data, size_t len) {
        args[i++] = std::string_view(len ? static_cast<const char *>(data) : "", len);
    };
    auto push_copy = [&](std::string_view s) {
        u_char *copy = static_cast<u_char *>(ngx_pnalloc(r->pool, s.size() + 1));
        if (copy == NULL) {
            return false;
        }
        ngx_memcpy(copy, s.data(), s.size());
        push(copy, s.size());
        return true;
    };
    // a key name written straight into the pool: no std::string per request
    auto push_name = [&](const apikey::KeyName &name) {
        u_char *copy = static_cast<u_char *>(ngx_pnalloc(r->pool, name.size() + 1));
        if (copy == NULL) {
            return false;
        }
        u_char *p = copy;
        for (auto part : name.parts) {
            p = part.empty() ? p : ngx_cpymem(p, part.data(), part.size());
        }
        push(copy, p - copy);
        return true;
    };

    push("EVALSHA", 7);
    push(mcf->script_sha.data, mcf->script_sha.len);

    u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(numkeys), "%ui", nkeys);
    bool ok = push_copy(std::string_view(numkeys, end - reinterpret_cast<u_char *>(numkeys)))
              && push_name(apikey::record_key_name(prefix, key_id));
    std::string_view record = ok ? args[i - 1] : std::string_view();

    for (k = 0; ok && k < nsets; k++) {
        std::string_view bucket(reinterpret_cast<const char *>(sets[k].name.data),
                                sets[k].name.len);
        ok = push_name(apikey::bucket_key_name(prefix, key_id, bucket));
    }
    if (quota_key) {
        ok = ok && push_name(apikey::quota_key_name(prefix, key_id));
    }

    if (limit_only) {
        push("limit", 5);
        push(ctx->own_limits.data, ctx->own_limits.len);
        push(ctx->owner.data, ctx->owner.len);
        push(ctx->own_quota.data, ctx->own_quota.len);
        push(record_use ? "1" : "0", 1);

    } else {
        push("check", 5);
        push(ctx->digest.data, ctx->digest.len);
        push(ctx->required.data, ctx->required.len);
        push(lcf->superscopes.data, lcf->superscopes.len);
        push(lcf->last_used_arg.data, lcf->last_used_arg.len);
    }

    // past this, the request has had its 503: the script then changes nothing
    u_char *dend = ngx_sprintf(reinterpret_cast<u_char *>(deadline), "%L",
                               ngx_http_apikey_deadline_ms(lcf->timeout));
    ok = ok && push_copy(std::string_view(deadline, dend - reinterpret_cast<u_char *>(deadline)));

    // keys named by value (owner buckets, the last-used index): never on a
    // Cluster, where the script may touch only the record's slot
    if (mcf->topology == NGX_HTTP_APIKEY_CLUSTER) {
        push("", 0);
    } else {
        push(mcf->prefix.data, mcf->prefix.len);
    }

    switch (lcf->env) {
    case NGX_HTTP_APIKEY_ENV_LIVE:
        push("live", 4);
        break;
    case NGX_HTTP_APIKEY_ENV_TEST:
        push("test", 4);
        break;
    default:
        push("", 0);
    }

    // the client address ($remote_addr: after real_ip) for the key's allow_ip
    // ("limit" mode: whether the key keeps credits)
    std::array<char, 32> client;
    if (limit_only) {
        push(ctx->has_credits ? "C" : "", ctx->has_credits ? 1 : 0);
    } else if (apikey::ip_address_hex(ngx_http_apikey_sv(r->connection->addr_text), &client)) {
        ok = ok && push_copy(std::string_view(client.data(), client.size()));
    } else {
        push("", 0);
    }

    for (k = 0; k < nsets; k++) {
        push(sets[k].spec.data, sets[k].spec.len);
    }

    push(lcf->quota_spec.data, lcf->quota_spec.len);
    push(lcf->cost_arg.data, lcf->cost_arg.len);

    if (!ok) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->command = ngx_http_apikey_format_command(r->pool, args, i);
    if (ctx->command.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->limit_only = limit_only;

    // what a batch sends of this check: its keys and arguments
    ctx->check_args = args + 3;
    ctx->check_nkeys = nkeys;
    ctx->check_nargs = i - 3 - ctx->check_nkeys;

    pending = new (std::nothrow) RedisPending();
    if (pending == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    pending->ctx = ctx;
    pending->slot = apikey::key_slot(record);

    if (!ngx_http_apikey_dispatch(pending, redis->for_slot(pending->slot), false)) {
        if (!redis->awaiting_master()) {
            delete pending;
            return NGX_ERROR;
        }
        ngx_http_apikey_send_later(pending);
    }

    ctx->pending = pending;
    ctx->state = NGX_HTTP_APIKEY_WAITING;
    ctx->in_flight = 1;
    ngx_http_apikey_count(in_flight, 1);

    ctx->wake.handler = ngx_http_apikey_guard<ngx_http_apikey_wake_handler>;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;
    ngx_add_timer(&ctx->wake, lcf->timeout);

    return NGX_AGAIN;
}


// The request is going away (pool cleanup) or has stopped waiting: any reply
// still to come must find no request.
void
ngx_http_apikey_cancel_check(ngx_http_apikey_ctx_t *ctx)
{
    if (ctx->in_flight) {
        ctx->in_flight = 0;
        ngx_http_apikey_count(in_flight, -1);
    }

    if (ctx->pending) {
        if (ctx->pending->retry.timer_set) {
            // waiting to be sent again (TRYAGAIN, no master named yet):
            // nothing in hiredis refers to it
            ngx_del_timer(&ctx->pending->retry);
            delete ctx->pending;
        } else {
            ctx->pending->ctx = NULL;   // the reply will find no request
        }
        ctx->pending = NULL;
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


// Errors that are about where the data is, not about the check: follow a
// cluster's redirect, retry a TRYAGAIN, reload a flushed script. True when
// the check was sent again and this reply is not its last.
static bool
ngx_http_apikey_reroute(RedisClient *client, const redisReply *reply, RedisPending *pending)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (redis == NULL || reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return false;
    }

    if (apikey::reply_error_is(reply, "NOSCRIPT")) {
        // SCRIPT FLUSH or a restarted Redis: reload and retry once, in order
        if (pending->retried) {
            return false;
        }
        pending->retried = true;
        client->load_script();
        return ngx_http_apikey_dispatch(pending, client, pending->asking);
    }

    if (apikey::reply_error_is(reply, "READONLY")) {
        redis->note_readonly();   // a demoted master: this check fails, the next goes on
        return false;
    }

    if (apikey::reply_error_is(reply, "CLUSTERDOWN")) {
        redis->refresh_soon();
        return false;
    }

    if (apikey::reply_error_is(reply, "TRYAGAIN")) {
        pending->hops = 0;
        ngx_http_apikey_count(redirects[NGX_HTTP_APIKEY_TRYAGAIN], 1);
        ngx_http_apikey_send_later(pending);
        return true;
    }

    std::optional<apikey::Redirect> redirect;
    try {
        redirect = apikey::parse_redirect(std::string_view(reply->str, reply->len));
    } catch (...) {
        return false;
    }
    if (!redirect) {
        if (apikey::reply_error_is(reply, "MOVED")) {
            redis->refresh_soon();   // a redirect we cannot read: ask for the map
        }
        return false;
    }
    if (pending->hops >= ngx_http_apikey_max_hops) {
        return false;
    }

    pending->hops++;
    ngx_http_apikey_count(redirects[redirect->ask ? NGX_HTTP_APIKEY_ASK : NGX_HTTP_APIKEY_MOVED],
                          1);

    return ngx_http_apikey_dispatch(pending, redis->follow(*redirect, *client), redirect->ask);
}


// Runs inside hiredis: store the result and post the request's wake event.
// Never finalize or run the request from here (hiredis is mid-dispatch).
static void
ngx_http_apikey_check_reply(redisAsyncContext *ac, void *r_, void *privdata)
{
    RedisClient  *client = RedisClient::of(ac);

    client->note_reply();

    ngx_http_apikey_apply_reply(client, static_cast<redisReply *>(r_),
                                static_cast<RedisPending *>(privdata));
}


// One check's reply, alone or as its element of a batch's reply (NULL: the
// connection was lost first).
static void
ngx_http_apikey_apply_reply(RedisClient *client, redisReply *reply, RedisPending *pending)
{
    ngx_http_apikey_ctx_t  *ctx = pending->ctx;
    ngx_http_request_t     *r;

    if (reply != NULL) {
        ngx_http_apikey_count_round_trip(ngx_http_apikey_now_us() - pending->sent_us);
    }

    if (ctx == NULL) {
        // a check given up by its timer is one timeout, not also the error of
        // the connection that the timeout then drops
        if (!pending->timed_out && (reply == NULL || reply->type == REDIS_REPLY_ERROR)) {
            ngx_http_apikey_count(redis_errors, 1);
        }
        delete pending;   // the request timed out or went away
        return;
    }

    r = ctx->request;

    try {
        if (ngx_http_apikey_reroute(client, reply, pending)) {
            return;
        }

        apikey::CheckReply  decoded;
        std::string         error;

        if (!apikey::decode_check_reply(reply, decoded, error, ctx->limit_only)) {
            ngx_http_apikey_count(redis_errors, 1);
            ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR,
                                        r->connection->log, 0,
                                        "apikey: redis check failed: %s", error.c_str());
            ctx->outcome = Outcome::kError;

        } else if (decoded.verdict == apikey::Verdict::kLate) {
            // still waited for, yet past its deadline by Redis's clock: the
            // offset learnt so far was wrong (the first check, or a clock
            // stepped); it is learnt afresh from this reply
            ngx_http_apikey_learn_clock(decoded.now_ms,
                                        ngx_http_apikey_now_us() - pending->sent_us, true);
            ngx_http_apikey_count(redis_errors, 1);
            ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR,
                                        r->connection->log, 0,
                                        "apikey: redis ran the check after its deadline by "
                                        "redis's clock: the clocks of nginx and redis disagree");
            ctx->outcome = Outcome::kError;

        } else {
            ngx_http_apikey_learn_clock(decoded.now_ms,
                                        ngx_http_apikey_now_us() - pending->sent_us, false);
            if (ngx_http_apikey_store_reply(r, ctx, decoded) != NGX_OK) {
                ctx->outcome = Outcome::kError;
            }
        }

    } catch (...) {
        // the request must still be woken: logged here, not at the entry
        ngx_http_apikey_log_caught(r->connection->log, "the redis reply of a check");
        ctx->outcome = Outcome::kError;
    }

    ngx_http_apikey_finish_check(ctx, pending);
}


// The check has its answer (in ctx->outcome): wake the request.
static void
ngx_http_apikey_finish_check(ngx_http_apikey_ctx_t *ctx, RedisPending *pending)
{
    ctx->pending = NULL;
    delete pending;

    if (ctx->in_flight) {
        ctx->in_flight = 0;
        ngx_http_apikey_count(in_flight, -1);
    }

    ctx->state = NGX_HTTP_APIKEY_DONE;

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


// The current draft's fields (rate_headers.hpp): every bucket named after its
// set and line, in the order the script (or the local store) reports them.
static void
ngx_http_apikey_set_draft_rate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, const apikey::BucketState *buckets, size_t count)
{
    size_t                                         i, nsets, npolicies;
    apikey::PolicySet                              sets[apikey::kMaxBuckets];
    apikey::RatePolicy                             policies[apikey::kMaxPolicies];
    std::array<apikey::PolicyName, apikey::kMaxBuckets>  names;
    std::array<apikey::PolicyName, apikey::kMaxQuotas>   quota_names;
    ngx_http_apikey_bucket_set_t                  *conf_sets;

    // no buckets in a reply that has quotas: store=local takes them later
    nsets = lcf->bucket_sets && count ? ngx_min(lcf->bucket_sets->nelts, apikey::kMaxBuckets)
                                      : 0;
    conf_sets = nsets ? static_cast<ngx_http_apikey_bucket_set_t *>(lcf->bucket_sets->elts)
                      : NULL;

    for (i = 0; i < nsets; i++) {
        sets[i].name = ngx_http_apikey_sv(conf_sets[i].name);
        sets[i].lines = static_cast<const apikey::Limit *>(conf_sets[i].limits->elts);
        sets[i].count = conf_sets[i].limits->nelts;
        sets[i].overridable = conf_sets[i].overridable;
    }

    // the key's own limits (or its plan's): what the script and the local
    // store parsed for the same request
    apikey::OwnLimits own;
    if (ctx->own_limits.len
        && !apikey::parse_own_limits(ngx_http_apikey_sv(ctx->own_limits), own))
    {
        return;
    }

    if (!apikey::name_policies(sets, nsets, own.begin(), own.count, count, names)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "apikey: %uz buckets do not match the location's limits: "
                      "no RateLimit fields", count);
        return;
    }

    for (i = 0; i < count; i++) {
        policies[i] = apikey::RatePolicy{names[i].view(), buckets[i]};
    }

    // the calendar quotas follow the buckets, each a policy of its own
    npolicies = count;
    for (i = 0; i < ctx->nquotas && i < apikey::kMaxQuotas; i++) {
        if (apikey::quota_policy(ctx->quotas[i], ctx->quota_now, quota_names[i],
                                 policies[npolicies]))
        {
            npolicies++;
        }
    }

    u_char *p = static_cast<u_char *>(ngx_pnalloc(r->pool, 2 * apikey::kMaxDraftLength));
    if (p == NULL) {
        return;   // out of memory: no headers rather than wrong ones
    }
    char *policy = reinterpret_cast<char *>(p);
    char *field = policy + apikey::kMaxDraftLength;

    ctx->draft_policy.len = apikey::format_draft_policy(policies, npolicies, policy,
                                                        apikey::kMaxDraftLength);
    ctx->draft_field.len = apikey::format_draft_limit(policies, npolicies, field,
                                                      apikey::kMaxDraftLength);
    if (ctx->draft_policy.len == 0 || ctx->draft_field.len == 0) {
        return;
    }
    ctx->draft_policy.data = p;
    ctx->draft_field.data = reinterpret_cast<u_char *>(field);
    ctx->rate_headers = NGX_HTTP_APIKEY_RATELIMIT_DRAFT;
}


void
ngx_http_apikey_set_rate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::BucketState *buckets, size_t count)
{
    ngx_http_apikey_loc_conf_t  *lcf;

    apikey::RateHeaders h = apikey::rate_headers(buckets, count);

    if (!h.present && ctx->nquotas == 0) {
        return;
    }

    if (h.present) {
        // the tightest bucket's numbers serve $apikey_rate_remaining, /me and
        // the legacy fields, whichever fields (if any) the response carries
        ctx->rate_policy.data = static_cast<u_char *>(
            ngx_pnalloc(r->pool, apikey::kMaxPolicyLength));
        if (ctx->rate_policy.data == NULL) {
            return;   // out of memory: no headers rather than wrong ones
        }
        ctx->rate_policy.len = apikey::format_policy(
            buckets, count, reinterpret_cast<char *>(ctx->rate_policy.data),
            apikey::kMaxPolicyLength);

        ctx->has_rate = 1;
        ctx->rate_limit = h.limit;
        ctx->rate_remaining = h.remaining;
        ctx->rate_reset = h.reset;
        ctx->retry_after = h.retry_after;
    }

    lcf = ctx->checked_for;
    if (lcf == NULL) {
        lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
            ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));
    }

    ctx->rate_headers = lcf->ratelimit_headers;

    if (lcf->ratelimit_headers == NGX_HTTP_APIKEY_RATELIMIT_DRAFT) {
        // set back to draft once both fields are made: none rather than wrong ones
        ctx->rate_headers = NGX_HTTP_APIKEY_RATELIMIT_OFF;
        try {
            ngx_http_apikey_set_draft_rate(r, ctx, lcf, buckets, count);
        } catch (...) {
            ngx_http_apikey_log_caught(r->connection->log, "the RateLimit fields");
        }
    }
}


// store=local: the buckets are in nginx; called once the record passed.
ngx_int_t
ngx_http_apikey_take_local(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    size_t                        count = 0;
    apikey::BucketState           buckets[apikey::kMaxBuckets];
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    bool passed = ngx_http_apikey_local_take(
        mcf->local, std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len),
        lcf, std::string_view(reinterpret_cast<const char *>(ctx->own_limits.data),
                              ctx->own_limits.len),
        ngx_http_apikey_sv(ctx->owner), buckets, &count);

    ctx->outcome = apikey::outcome_of(passed ? apikey::Verdict::kOk : apikey::Verdict::kLimited);
    ngx_http_apikey_set_rate(r, ctx, buckets, count);

    return NGX_OK;
}


static void
ngx_http_apikey_ignore_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    RedisClient::of(ac)->note_reply();

    // a last-used write that missed its node still tells where the key went
    if (redis && apikey::reply_error_is(static_cast<redisReply *>(reply), "MOVED")) {
        redis->refresh_soon();
    }
}


// After a cache hit that needs no script: write the key's last use, at most
// once per apikey_last_used_interval (the cache entry decides), without waiting.
void
ngx_http_apikey_record_use(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    apikey::RedisTopology        *redis = ngx_http_apikey_redis();
    RedisClient                  *to;
    ngx_http_apikey_main_conf_t  *mcf;

    if (redis == NULL) {
        return;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    std::string key = apikey::record_key(
        std::string_view(reinterpret_cast<const char *>(mcf->prefix.data), mcf->prefix.len),
        std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len));

    // HSET would re-create a deleted record: only touch one that exists. The
    // time is Redis's, as the check script writes it; the last-used index
    // follows, as in the script (not on a Cluster: another slot).
    const char *argv[] = {"EVAL",
                          "if redis.call('EXISTS', KEYS[1]) == 1 then "
                          "local t = redis.call('TIME')[1] "
                          "redis.call('HSET', KEYS[1], 'last_used', t) "
                          "if ARGV[1] ~= '' then redis.call('ZADD', ARGV[1] .. 'idx:last_used', "
                          "t, ARGV[2]) end end",
                          "1", key.c_str(), "", ""};
    size_t lens[] = {4, ngx_strlen(argv[1]), 1, key.size(), 0, 0};
    if (mcf->topology != NGX_HTTP_APIKEY_CLUSTER) {
        // hiredis copies the arguments (by length) before send returns
        argv[4] = reinterpret_cast<const char *>(mcf->prefix.data);
        lens[4] = mcf->prefix.len;
        argv[5] = reinterpret_cast<const char *>(ctx->id.data);
        lens[5] = ctx->id.len;
    }

    to = redis->for_key(key);
    if (to != NULL) {
        to->send(6, argv, lens, ngx_http_apikey_guard<ngx_http_apikey_ignore_reply>, NULL);
    }
}


// The quotas and credits of a reply, for the RateLimit fields, /me and
// $apikey_credits_remaining: copied out of the redisReply into the pool.
static ngx_int_t
ngx_http_apikey_store_quotas(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::CheckReply &reply)
{
    ngx_uint_t  i;

    ctx->credits = reply.credits;
    ctx->credits_reset = reply.credits_reset_s;
    ctx->quota_now = reply.now_ms / 1000;
    ctx->nquotas = 0;

    if (reply.quota_count == 0) {
        return NGX_OK;
    }

    ctx->quotas = static_cast<apikey::QuotaState *>(
        ngx_palloc(r->pool, reply.quota_count * sizeof(apikey::QuotaState)));
    if (ctx->quotas == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply.quota_count; i++) {
        ngx_str_t name = ngx_http_apikey_pool_copy(r->pool, reply.quotas[i].name);
        if (name.data == NULL) {
            return NGX_ERROR;
        }
        new (&ctx->quotas[i]) apikey::QuotaState(reply.quotas[i]);
        ctx->quotas[i].name = ngx_http_apikey_sv(name);
    }
    ctx->nquotas = reply.quota_count;

    return NGX_OK;
}


// Retry-After of a quota or credits refusal: when the period of the longest
// used-up quota ends, or when the credits are refilled (none without a refill).
static void
ngx_http_apikey_set_quota_retry(ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t  i;

    if (ctx->outcome == Outcome::kCreditsExhausted) {
        ctx->retry_after = ctx->credits_reset;

    } else if (ctx->outcome == Outcome::kQuotaExceeded) {
        ctx->retry_after = 0;
        for (i = 0; i < ctx->nquotas; i++) {
            if (ctx->quotas[i].exceeded) {
                ctx->retry_after = ngx_max(ctx->retry_after, ctx->quotas[i].reset_s);
            }
        }
    }
}


static ngx_int_t
ngx_http_apikey_store_reply(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::CheckReply &reply)
{
    ngx_http_apikey_loc_conf_t   *lcf = ctx->checked_for;
    ngx_http_apikey_main_conf_t  *mcf;

    ctx->outcome = apikey::outcome_of(reply.verdict);

    if (ngx_http_apikey_store_quotas(r, ctx, reply) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->limit_only) {
        // after a cache hit the record is known: only the buckets, quotas
        // and credits are news
        ngx_http_apikey_set_rate(r, ctx, reply.buckets.data(), reply.bucket_count);
        ngx_http_apikey_set_quota_retry(ctx);
        if (ctx->outcome == Outcome::kOk && lcf->local_limits && lcf->bucket_sets
            && lcf->bucket_sets->nelts)
        {
            return ngx_http_apikey_take_local(r, ctx, lcf);
        }
        return NGX_OK;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (ctx->cache_store && mcf->cache) {
        apikey::CachedRecord cached;
        cached.id = std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len);
        cached.clock_offset_ms = ngx_http_apikey_redis_offset_ms();
        if (reply.verdict != apikey::Verdict::kInvalid) {
            cached.state = reply.verdict == apikey::Verdict::kRevoked
                           ? apikey::CachedRecord::State::kRevoked
                           : reply.verdict == apikey::Verdict::kDisabled
                           ? apikey::CachedRecord::State::kDisabled
                           : apikey::CachedRecord::State::kActive;
            cached.name = reply.name;
            cached.scopes = reply.scopes;
            cached.hint = reply.hint;
            cached.limits = reply.limits;
            cached.owner = reply.owner;
            cached.role = reply.role;
            cached.plan = reply.plan;
            cached.env = reply.env;
            cached.meta = reply.meta;
            cached.allow_ip = reply.allow_ip;
            cached.quota = reply.quota;
            cached.has_credits = reply.credits >= 0;
            cached.expires = reply.expires;
            cached.created = reply.created;
            cached.last_used = reply.last_used;
            cached.token_until = reply.token_until;
        }
        ngx_http_apikey_cache_store(mcf->cache, ctx->digest_bin, cached, ctx->cache_generation);
    }

    if (reply.verdict == apikey::Verdict::kInvalid) {
        ngx_str_null(&ctx->id);   // the secret did not match: the claimed id is not proven
        return NGX_OK;
    }

    ctx->name = ngx_http_apikey_pool_copy(r->pool, reply.name);
    ctx->scopes = ngx_http_apikey_pool_copy(r->pool, reply.scopes);
    ctx->missing_scope = ngx_http_apikey_pool_copy(r->pool, reply.missing_scope);
    ctx->hint = ngx_http_apikey_pool_copy(r->pool, reply.hint);
    ctx->own_limits = ngx_http_apikey_pool_copy(r->pool, reply.limits);
    ctx->owner = ngx_http_apikey_pool_copy(r->pool, reply.owner);
    ctx->role = ngx_http_apikey_pool_copy(r->pool, reply.role);
    ctx->plan = ngx_http_apikey_pool_copy(r->pool, reply.plan);
    ctx->env = ngx_http_apikey_pool_copy(r->pool, reply.env);
    ctx->meta = ngx_http_apikey_pool_copy(r->pool, reply.meta);
    ctx->allow_ip = ngx_http_apikey_pool_copy(r->pool, reply.allow_ip);
    ctx->own_quota = ngx_http_apikey_pool_copy(r->pool, reply.quota);
    ctx->has_credits = reply.credits >= 0;
    ctx->expires = reply.expires;
    ctx->created = reply.created;
    ctx->last_used = reply.last_used;
    ctx->token_until = reply.token_until;

    if ((reply.name.size() && ctx->name.data == NULL)
        || (reply.scopes.size() && ctx->scopes.data == NULL)
        || (reply.missing_scope.size() && ctx->missing_scope.data == NULL)
        || (reply.hint.size() && ctx->hint.data == NULL)
        || (reply.limits.size() && ctx->own_limits.data == NULL)
        || (reply.owner.size() && ctx->owner.data == NULL)
        || (reply.role.size() && ctx->role.data == NULL)
        || (reply.plan.size() && ctx->plan.data == NULL)
        || (reply.env.size() && ctx->env.data == NULL)
        || (reply.meta.size() && ctx->meta.data == NULL)
        || (reply.allow_ip.size() && ctx->allow_ip.data == NULL)
        || (reply.quota.size() && ctx->own_quota.data == NULL))
    {
        return NGX_ERROR;
    }

    ngx_http_apikey_set_rate(r, ctx, reply.buckets.data(), reply.bucket_count);
    ngx_http_apikey_set_quota_retry(ctx);

    if (ctx->outcome == Outcome::kOk && lcf->local_limits && lcf->bucket_sets
        && lcf->bucket_sets->nelts)
    {
        return ngx_http_apikey_take_local(r, ctx, lcf);
    }

    return NGX_OK;
}


// Posted after the reply, or fired by the timer: resume the phase engine, which
// calls the access handler again, which now finds the context done.
static void
ngx_http_apikey_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_apikey_ctx_t   *ctx;
    RedisClient             *sent_to;

    r = static_cast<ngx_http_request_t *>(ev->data);
    c = r->connection;
    ctx = ngx_http_apikey_get_ctx(r);

    if (ev->timedout) {
        ev->timedout = 0;

        if (ctx != NULL && ctx->state == NGX_HTTP_APIKEY_WAITING) {
            ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
                ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));

            apikey::RedisTopology  *redis = ngx_http_apikey_redis();

            if (redis != NULL && redis->awaiting_master()) {
                // nothing was sent: no sentinel has named a usable master
                ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_SENTINEL, NGX_LOG_ERR, c->log, 0,
                                            "apikey: no sentinel named the master within %M ms",
                                            lcf->timeout);
            } else {
                ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_TIMEOUT, NGX_LOG_ERR, c->log, 0,
                                            "apikey: redis did not answer within %M ms",
                                            lcf->timeout);
            }

            sent_to = ctx->pending ? ctx->pending->sent_to : NULL;
            if (ctx->pending) {
                ctx->pending->timed_out = true;
            }

            ngx_http_apikey_cancel_check(ctx);
            ngx_http_apikey_count(redis_timeouts, 1);
            ctx->outcome = Outcome::kError;
            ctx->state = NGX_HTTP_APIKEY_DONE;

            if (sent_to != NULL) {
                sent_to->note_timeout(lcf->timeout);
            }
        }
    }

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "apikey: resuming request");

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}
