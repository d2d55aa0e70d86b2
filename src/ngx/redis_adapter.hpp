// hiredis <-> nginx event loop, in the shape of hiredis's own adapters/*.h.
//
// hiredis owns the socket and closes it; nginx owns only the ngx_connection_t
// wrapper, which the cleanup hook returns to the free list without closing.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include <hiredis/async.h>

// Wraps the context's socket in an nginx connection and installs the event hooks.
ngx_int_t ngx_http_apikey_redis_attach(redisAsyncContext *ac, ngx_log_t *log);
