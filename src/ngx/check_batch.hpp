// Batched checks (apikey_redis_batch on): the checks of one turn of the
// worker's event loop that go to the same connection leave as one call of
// the script (check_batch.cpp).
#pragma once

#include "ngx_http_apikey_module.hpp"

#include "redis_call.hpp"

// A check call's batch hook (redis_call.hpp's RedisCall::batch): adds it to
// this turn's batch for `to` (NGX_OK), declines when checks to `to` are not
// batched (apikey_redis_batch off, a Redis Cluster), NGX_ERROR when out of
// memory.
ngx_int_t ngx_http_apikey_batch_check(apikey::RedisCall *call, apikey::RedisClient *to);
