// Per-key usage: each worker counts requests by key, UTC day and result in a
// table of its own and flushes it to Redis at most once a second (see
// src/core/usage.hpp and README "Per-key usage").
#pragma once

#include "ngx_http_apikey_module.hpp"

// Counts one decided request (nothing for an outcome that is not counted, or
// with apikey_usage off). Allocates only for a key-day new since the last
// flush; never throws.
void ngx_http_apikey_usage_count(const ngx_str_t &id, apikey::Outcome outcome) noexcept;

// init_process / exit_process.
ngx_int_t ngx_http_apikey_usage_start(ngx_cycle_t *cycle);
void ngx_http_apikey_usage_release() noexcept;
