// What the parts of a request's check share: check_send.cpp builds the call,
// check_batch.cpp may carry it with others, check_reply.cpp applies its reply
// and check_wait.cpp resumes the request.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include "redis_call.hpp"

// check_reply.cpp: a check call's outcome (redis_call.hpp's RedisCallDone)
void ngx_http_apikey_check_done(apikey::RedisCall *call, apikey::RedisClient *client,
    redisReply *reply);

// check_wait.cpp: the check has its answer (in ctx->outcome): wake the request
void ngx_http_apikey_finish_check(ngx_http_apikey_ctx_t *ctx);

// check_wait.cpp: the request's wake event (the reply is in, or the time is up)
void ngx_http_apikey_wake_handler(ngx_event_t *ev);
