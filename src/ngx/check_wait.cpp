// Waiting for a check's reply without blocking: the request's wake event,
// posted when the reply is in or fired by apikey_redis_timeout, and the
// cancellation when the request goes away first.
#include "check.hpp"
#include "guard.hpp"

#include "metrics.hpp"
#include "redis_call.hpp"
#include "redis_topology.hpp"

using apikey::Outcome;
using apikey::RedisClient;


// The request is going away (pool cleanup) or has stopped waiting: any reply
// still to come must find no request.
void
ngx_http_apikey_cancel_check(ngx_http_apikey_ctx_t *ctx)
{
    if (ctx->in_flight) {
        ctx->in_flight = 0;
        ngx_http_apikey_count(in_flight, -1);
    }

    ngx_http_apikey_call_abandon(&ctx->call, &ctx->wake);
}


// The check has its answer (in ctx->outcome): wake the request.
void
ngx_http_apikey_finish_check(ngx_http_apikey_ctx_t *ctx)
{
    ctx->call = NULL;   // freed by redis_call.cpp once its handler returns

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


// Posted after the reply, or fired by the timer: resume the phase engine, which
// calls the access handler again, which now finds the context done.
void
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

            sent_to = ctx->call ? ctx->call->sent_to : NULL;
            if (ctx->call) {
                ctx->call->timed_out = true;
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
