// One script call waiting for Redis (redis_call.hpp): sending it where its
// slot lives, following what Redis says about where the data is, and handing
// the last reply to its owner.
#include "redis_call.hpp"
#include "guard.hpp"

#include <new>
#include <optional>

#include "metrics.hpp"
#include "redis_topology.hpp"
#include "topology.hpp"

using apikey::RedisCall;
using apikey::RedisClient;

// MOVED and ASK redirects followed in a row: more means the nodes disagree
// about the map, and the call fails rather than bounce.
static constexpr ngx_uint_t  ngx_http_apikey_max_hops = 16;

// While a cluster slot is being migrated, a call whose keys are not all on
// one side (some moved, or a bucket that does not exist yet) is refused with
// -TRYAGAIN until the slot is handed over: tried again this often, until the
// request's apikey_redis_timeout. So is a call waiting for the sentinels to
// name the master.
static constexpr ngx_msec_t  ngx_http_apikey_retry_delay = 5;

static void ngx_http_apikey_call_retry(ngx_event_t *ev);


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


RedisCall *
ngx_http_apikey_call_create(void *owner, apikey::RedisCallDone *done, ngx_str_t command,
    int slot, bool check)
{
    auto *call = new (std::nothrow) RedisCall();
    if (call == NULL) {
        return NULL;
    }

    call->owner = owner;
    call->done = done;
    call->command = command;
    call->slot = slot;
    call->check = check;

    return call;
}


// Sends the call again shortly: after a TRYAGAIN (the slot's keys were split
// by a migration a moment ago), or while the sentinels have not yet named the
// master. The owner's own timeout bounds the waiting.
static void
ngx_http_apikey_send_later(RedisCall *call)
{
    // the cycle's log, not the request's: freed with it
    ngx_http_apikey_init_timer(&call->retry, ngx_http_apikey_guard<ngx_http_apikey_call_retry>,
                               call, ngx_cycle->log);
    ngx_add_timer(&call->retry, ngx_http_apikey_retry_delay);
}


bool
ngx_http_apikey_call_send(RedisCall *call)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (redis != NULL && ngx_http_apikey_call_dispatch(call, redis->for_slot(call->slot), false)) {
        return true;
    }

    if (redis != NULL && redis->awaiting_master()) {
        ngx_http_apikey_send_later(call);
        return true;
    }

    delete call;
    return false;
}


bool
ngx_http_apikey_call_dispatch(RedisCall *call, RedisClient *to, bool asking)
{
    static const char  *asking_argv[] = {"ASKING"};
    static const size_t asking_len[] = {6};

    if (to == NULL
        || (asking && !to->send(1, asking_argv, asking_len,
                                ngx_http_apikey_guard<ngx_http_apikey_ignore_reply>, NULL)))
    {
        return false;
    }

    if (call->sent_to != to) {
        call->retried = false;   // a script load is per node
    }
    call->sent_to = to;
    call->asking = asking;
    call->sent_us = ngx_http_apikey_now_us();

    if (call->batch != NULL && !asking) {
        switch (call->batch(call, to)) {
        case NGX_OK:
            return true;
        case NGX_DECLINED:
            break;
        default:
            return false;
        }
    }

    return to->send_formatted(call->command, ngx_http_apikey_guard<ngx_http_apikey_call_callback>,
                              call);
}


static void
ngx_http_apikey_call_retry(ngx_event_t *ev)
{
    auto                   *call = static_cast<RedisCall *>(ev->data);
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (call->owner == NULL) {
        delete call;   // the owner went away meanwhile
        return;
    }

    if (redis != NULL && ngx_http_apikey_call_dispatch(call, redis->for_slot(call->slot), false)) {
        return;
    }

    ngx_http_apikey_call_unsent(call);
}


void
ngx_http_apikey_call_unsent(RedisCall *call)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (call->owner == NULL) {
        delete call;
        return;
    }

    if (redis != NULL && redis->awaiting_master()) {
        ngx_http_apikey_send_later(call);
        return;
    }

    call->done(call, NULL, NULL);
    delete call;
}


void
ngx_http_apikey_call_cancel(RedisCall *call)
{
    if (call->retry.timer_set) {
        // waiting to be sent again: nothing in hiredis refers to it
        ngx_del_timer(&call->retry);
        delete call;
        return;
    }

    call->owner = NULL;   // the reply will find no owner
}


void
ngx_http_apikey_call_abandon(RedisCall **call, ngx_event_t *wake)
{
    if (*call != NULL) {
        ngx_http_apikey_call_cancel(*call);
        *call = NULL;
    }

    if (wake->timer_set) {
        ngx_del_timer(wake);
    }

    if (wake->posted) {
        ngx_delete_posted_event(wake);
    }
}


// Errors that are about where the data is, not about the call: follow a
// cluster's redirect, retry a TRYAGAIN, reload a flushed script. True when
// the call was sent again and this reply is not its last.
static bool
ngx_http_apikey_reroute(RedisClient *client, const redisReply *reply, RedisCall *call)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (redis == NULL || reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return false;
    }

    if (apikey::reply_error_is(reply, "NOSCRIPT")) {
        // SCRIPT FLUSH or a restarted Redis: reload and retry once, in order
        if (call->retried) {
            return false;
        }
        call->retried = true;
        client->load_script();
        return ngx_http_apikey_call_dispatch(call, client, call->asking);
    }

    if (apikey::reply_error_is(reply, "READONLY")) {
        redis->note_readonly();   // a demoted master: this call fails, the next goes on
        return false;
    }

    if (apikey::reply_error_is(reply, "CLUSTERDOWN")) {
        redis->refresh_soon();
        return false;
    }

    if (apikey::reply_error_is(reply, "TRYAGAIN")) {
        call->hops = 0;
        ngx_http_apikey_count(redirects[NGX_HTTP_APIKEY_TRYAGAIN], 1);
        ngx_http_apikey_send_later(call);
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
    if (call->hops >= ngx_http_apikey_max_hops) {
        return false;
    }

    call->hops++;
    ngx_http_apikey_count(redirects[redirect->ask ? NGX_HTTP_APIKEY_ASK : NGX_HTTP_APIKEY_MOVED],
                          1);

    return ngx_http_apikey_call_dispatch(call, redis->follow(*redirect, *client), redirect->ask);
}


// The reply of a call whose owner went away (true), which is then freed.
static bool
ngx_http_apikey_call_orphaned(RedisCall *call, const redisReply *reply)
{
    if (call->check && reply != NULL) {
        ngx_http_apikey_count_round_trip(ngx_http_apikey_now_us() - call->sent_us);
    }

    if (call->owner != NULL) {
        return false;
    }

    // a check given up by its timer is one timeout, not also the error of
    // the connection that the timeout then drops
    if (call->check && !call->timed_out
        && (reply == NULL || reply->type == REDIS_REPLY_ERROR))
    {
        ngx_http_apikey_count(redis_errors, 1);
    }

    delete call;
    return true;
}


void
ngx_http_apikey_call_reply(RedisClient *client, redisReply *reply, RedisCall *call)
{
    if (ngx_http_apikey_call_orphaned(call, reply)) {
        return;
    }

    bool rerouted;
    try {
        rerouted = ngx_http_apikey_reroute(client, reply, call);
    } catch (...) {
        rerouted = false;
    }
    if (rerouted) {
        return;
    }

    call->done(call, client, reply);
    delete call;
}


void
ngx_http_apikey_call_end(RedisClient *client, redisReply *reply, RedisCall *call)
{
    if (ngx_http_apikey_call_orphaned(call, reply)) {
        return;
    }

    call->done(call, client, reply);
    delete call;
}


// Runs inside hiredis: the owner's handler stores the outcome and posts its
// request's wake event (never finalizes or runs the request from here:
// hiredis is mid-dispatch).
void
ngx_http_apikey_call_callback(redisAsyncContext *ac, void *reply, void *privdata)
{
    RedisClient  *client = RedisClient::of(ac);

    client->note_reply();

    ngx_http_apikey_call_reply(client, static_cast<redisReply *>(reply),
                               static_cast<RedisCall *>(privdata));
}


void
ngx_http_apikey_ignore_reply(redisAsyncContext *ac, void *reply, void *)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    RedisClient::of(ac)->note_reply();

    // a last-used write that missed its node still tells where the key went
    if (redis && apikey::reply_error_is(static_cast<redisReply *>(reply), "MOVED")) {
        redis->refresh_soon();
    }
}
