// Confirmed invalidation, the worker's part (README, "Confirmed
// invalidation"): with apikey_cache each worker announces itself in
// <prefix>workers from a timer while its subscription stands, and
// acknowledges every invalidation message that carries an event id once it
// has dropped the key, so `apikeyctl ... --wait` and the admin API's ?wait=
// can tell when every worker of every instance has let the key go.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include <string_view>

// In init_process, with apikey_cache: names this worker and arms the timer.
void ngx_http_apikey_announce_init(ngx_http_apikey_main_conf_t *mcf, ngx_cycle_t *cycle);

// The subscription stands (again): announce at once.
void ngx_http_apikey_announce_now();

// A message on <prefix>invalidate: drops the key from the cache, counts the
// lag, and acknowledges the event if it carries one.
void ngx_http_apikey_invalidation_message(std::string_view text);

// In exit_process, before the connections close: removes this worker from
// <prefix>workers at once (a graceful stop or a reload), so that waiters do
// not wait for it until its announcement expires. Best effort: one write.
void ngx_http_apikey_announce_withdraw();
