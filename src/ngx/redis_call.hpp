// One script call waiting for Redis: a request's key check, an admin API call
// or a leak report. Every request-driven call goes this one way, so the three
// share one answer to what can happen between sending and the reply: the
// request going away, a timeout, a flushed script (NOSCRIPT), a demoted
// master (READONLY), a cluster's MOVED, ASK and TRYAGAIN, and a master the
// sentinels have not named yet.
//
// hiredis's privdata points at the call, never at the request: when the
// request goes away first, `owner` is set to NULL and the late reply lands
// harmlessly. The call is on the heap (not in the request pool) for the same
// reason.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include "redis_client.hpp"

namespace apikey {

struct RedisCall;

// The call's outcome, while its owner still waits: `reply` is its last reply
// (never a redirect or a NOSCRIPT that was retried), NULL when the connection
// was lost first; `client` is NULL when the call could not be sent at all.
// Called once. The handler forgets the call: it is freed when it returns.
using RedisCallDone = void(RedisCall *call, RedisClient *client, redisReply *reply);

struct RedisCall {
    void           *owner;      // what waits for the reply; NULL once gone
    RedisCallDone  *done;
    ngx_str_t       command;    // RESP, in the owner's pool: sent again as is
                                // after NOSCRIPT, a redirect or a TRYAGAIN
    int             slot;       // of the keys' hash tag (Redis Cluster)
    bool            check;      // a key check: counted in the round-trip
                                // histogram and in redis_errors
    // a call that may leave with others bound for `to` (check_batch.cpp):
    // NGX_OK when it waits for them, NGX_DECLINED to send it alone,
    // NGX_ERROR when it cannot be queued; NULL: always alone
    ngx_int_t     (*batch)(RedisCall *call, RedisClient *to);
    RedisClient    *sent_to;    // the connection it is waiting on
    uint64_t        sent_us;    // for the round-trip histogram and the clock
    bool            retried;    // NOSCRIPT already handled once, on sent_to
    bool            asking;     // sent after ASKING (a cluster's ASK)
    ngx_uint_t      hops;       // cluster redirects in a row
    bool            timed_out;  // counted in redis_timeouts: never again as an error
    ngx_event_t     retry;      // send again shortly (TRYAGAIN, no master yet)
};

}  // namespace apikey

// A new call (NULL when out of memory); `command` must outlive the owner's wait.
apikey::RedisCall *ngx_http_apikey_call_create(void *owner, apikey::RedisCallDone *done,
    ngx_str_t command, int slot, bool check);

// Sends it to the connection that serves its slot, or shortly when no
// sentinel has named the master yet. False when Redis is not usable now:
// the call is freed and the caller answers 503.
bool ngx_http_apikey_call_send(apikey::RedisCall *call);

// Sends it to `to` (after ASKING, for a cluster's ASK), or hands it to its
// batch. False when it could not be queued.
bool ngx_http_apikey_call_dispatch(apikey::RedisCall *call, apikey::RedisClient *to,
    bool asking);

// The owner stops waiting (it timed out, or the request is going away).
void ngx_http_apikey_call_cancel(apikey::RedisCall *call);

// The same for an owner that waits with a wake event (a request): its call,
// if any, is cancelled and forgotten, and the event disarmed.
void ngx_http_apikey_call_abandon(apikey::RedisCall **call, ngx_event_t *wake);

// The reply callback of a call sent alone (the privdata is the call).
void ngx_http_apikey_call_callback(redisAsyncContext *ac, void *reply, void *privdata);

// A reply for the call, alone or as its element of a batch's reply: follows
// redirects and reloads a flushed script, else ends the call.
void ngx_http_apikey_call_reply(apikey::RedisClient *client, redisReply *reply,
    apikey::RedisCall *call);

// Ends the call with this reply as it is (no redirect, no retry).
void ngx_http_apikey_call_end(apikey::RedisClient *client, redisReply *reply,
    apikey::RedisCall *call);

// A call that could not be queued with its batch: it waits for the sentinels
// to name a master, else ends unsent.
void ngx_http_apikey_call_unsent(apikey::RedisCall *call);

// The reply callback of commands whose reply nobody needs (ASKING, the
// last-used write after a cache hit).
void ngx_http_apikey_ignore_reply(redisAsyncContext *ac, void *reply, void *privdata);
