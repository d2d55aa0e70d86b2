// Key hygiene gauges for apikey_metrics: keys by status, expiring soon, unused
// for long. One worker of an instance counts them at most once a minute, by
// walking the key records with SCAN and HMGET in the background; a scrape
// only reads the last complete count from shared memory. Counting never
// happens on a request's path, nor per scrape.
#pragma once

#include "ngx_http_apikey_module.hpp"

// From init_process, once the worker's Redis connections exist; only when
// some location has apikey_metrics.
ngx_int_t ngx_http_apikey_hygiene_start(ngx_cycle_t *cycle);
// From exit_process: before the Redis connections are released ...
void ngx_http_apikey_hygiene_stop();
// ... and after (their commands' callbacks, called as they close, are gone).
void ngx_http_apikey_hygiene_release();
