// Batched checks (check_batch.hpp).
#include "check_batch.hpp"
#include "guard.hpp"

#include <new>
#include <string>
#include <vector>

#include "metrics.hpp"
#include "redis_topology.hpp"

using apikey::RedisCall;
using apikey::RedisClient;

static void ngx_http_apikey_batch_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void ngx_http_apikey_flush_batch(ngx_event_t *ev);


// The request context of a batched call: only checks are batched.
static ngx_http_apikey_ctx_t *
ngx_http_apikey_batch_ctx(RedisCall *call)
{
    return static_cast<ngx_http_apikey_ctx_t *>(call->owner);
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
    std::vector<RedisCall *>     waiting;
    RedisClient                 *to = nullptr;
    ngx_event_t                  flush;
    std::string                  command;   // reused: no allocation per batch once grown
};

static ngx_http_apikey_batch_t  *ngx_http_apikey_batch;

// A batch on its way: the checks it carries, in the order of its elements.
struct ngx_http_apikey_sent_batch_t {
    std::vector<RedisCall *>     calls;
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
ngx_http_apikey_batch_add(RedisCall *call, RedisClient *to)
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
        batch->waiting.push_back(call);
    } catch (...) {
        return false;   // out of memory: this check fails as an unsendable one
    }
    batch->to = to;

    if (!batch->flush.posted) {
        ngx_post_event(&batch->flush, &ngx_posted_events);
    }

    return true;
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
    std::vector<RedisCall *> checks;
    checks.reserve(batch->waiting.size());
    for (RedisCall *call : batch->waiting) {
        if (call->owner == NULL) {
            delete call;
        } else {
            checks.push_back(call);
        }
    }
    batch->waiting.clear();

    if (checks.empty()) {
        return;
    }

    if (checks.size() == 1) {
        RedisCall *call = checks[0];
        if (!to->send_formatted(call->command,
                                ngx_http_apikey_guard<ngx_http_apikey_call_callback>, call))
        {
            ngx_http_apikey_call_unsent(call);
        }
        return;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_apikey_module));

    // EVALSHA sha numkeys <every check's keys> batch n <per check: nkeys
    // nargs args...>
    nkeys = 0;
    nargs = 0;
    for (RedisCall *call : checks) {
        nkeys += ngx_http_apikey_batch_ctx(call)->check_nkeys;
        nargs += 2 + ngx_http_apikey_batch_ctx(call)->check_nargs;
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
    for (RedisCall *call : checks) {
        ngx_http_apikey_ctx_t *ctx = ngx_http_apikey_batch_ctx(call);
        for (n = 0; n < ctx->check_nkeys; n++) {
            ngx_http_apikey_append_bulk(out, ctx->check_args[n]);
        }
    }
    ngx_http_apikey_append_bulk(out, "batch");
    ngx_http_apikey_append_number(out, checks.size());
    for (RedisCall *call : checks) {
        ngx_http_apikey_ctx_t *ctx = ngx_http_apikey_batch_ctx(call);
        ngx_http_apikey_append_number(out, ctx->check_nkeys);
        ngx_http_apikey_append_number(out, ctx->check_nargs);
        for (n = 0; n < ctx->check_nargs; n++) {
            ngx_http_apikey_append_bulk(out, ctx->check_args[ctx->check_nkeys + n]);
        }
    }

    auto *sent = new (std::nothrow) ngx_http_apikey_sent_batch_t();
    bool ok = sent != NULL;
    if (ok) {
        sent->calls = std::move(checks);
        ngx_str_t command = {out.size(), reinterpret_cast<u_char *>(&out[0])};
        ok = to->send_formatted(command, ngx_http_apikey_guard<ngx_http_apikey_batch_reply>, sent);
    }

    if (!ok) {
        std::vector<RedisCall *> &unsent = sent ? sent->calls : checks;
        for (RedisCall *call : unsent) {
            ngx_http_apikey_call_unsent(call);
        }
        delete sent;
        return;
    }

    ngx_http_apikey_count(batches, 1);
    ngx_http_apikey_count(batched_checks, sent->calls.size());
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
    size_t        i, n = sent->calls.size();

    client->note_reply();

    if (apikey::reply_error_is(reply, "NOSCRIPT")) {
        // the scripts are loaded again once, and the checks sent again in
        // order behind them (batched again at the end of this turn)
        client->load_script();
        for (RedisCall *call : sent->calls) {
            if (call->owner == NULL) {
                delete call;
            } else if (call->retried || !ngx_http_apikey_call_dispatch(call, client, false)) {
                ngx_http_apikey_call_end(client, reply, call);   // fails it
            } else {
                call->retried = true;
            }
        }
        delete sent;
        return;
    }

    bool split = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == n;

    for (i = 0; i < n; i++) {
        ngx_http_apikey_call_reply(client, split ? reply->element[i] : reply, sent->calls[i]);
    }

    delete sent;
}


ngx_int_t
ngx_http_apikey_batch_check(RedisCall *call, RedisClient *to)
{
    if (!ngx_http_apikey_batching(to)) {
        return NGX_DECLINED;
    }

    return ngx_http_apikey_batch_add(call, to) ? NGX_OK : NGX_ERROR;
}
