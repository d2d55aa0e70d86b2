// Prometheus counters shared by every worker, in a small shared-memory zone
// the module creates itself ("apikey_metrics"). They survive reloads.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include "invalidation.hpp"

// Histogram of Redis round-trip times; upper bounds in microseconds.
inline constexpr ngx_uint_t  ngx_http_apikey_latency_bounds_us[] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000
};
inline constexpr ngx_uint_t  ngx_http_apikey_latency_buckets =
    sizeof(ngx_http_apikey_latency_bounds_us) / sizeof(ngx_http_apikey_latency_bounds_us[0]) + 1;

inline constexpr ngx_uint_t  ngx_http_apikey_outcomes = static_cast<ngx_uint_t>(
    apikey::Outcome::kCreditsExhausted) + 1;

// The key hygiene gauges (src/ngx/hygiene.cpp): the last complete count.
struct ngx_http_apikey_key_stats_t {
    ngx_atomic_t  claimed;        // the unix second the last count was started in
    ngx_atomic_t  version;        // odd while a worker writes the figures below
    ngx_atomic_t  counted_at;     // the unix second the last count ended in; 0: none yet
    ngx_atomic_t  keys[5];        // by apikey::KeyStats::Status
    ngx_atomic_t  expiring[2];    // within apikey::KeyStats::kExpiringDays
    ngx_atomic_t  unused[2];      // for apikey::KeyStats::kUnusedDays
    ngx_atomic_t  near_limit;     // at 80% or more of a quota or of the credits
    ngx_atomic_t  runs[2];        // counts that ended: complete, failed
};

struct ngx_http_apikey_metrics_t {
    ngx_atomic_t  requests[ngx_http_apikey_outcomes];
    ngx_atomic_t  requests_dry_run[ngx_http_apikey_outcomes];   // under apikey_dry_run
    ngx_atomic_t  round_trips;
    ngx_atomic_t  batches;           // script calls that carried two checks or more
    ngx_atomic_t  batched_checks;    // the checks they carried
    ngx_atomic_t  redis_errors;
    ngx_atomic_t  redis_timeouts;
    ngx_atomic_t  reconnects;
    ngx_atomic_t  redirects[3];      // cluster: MOVED, ASK, TRYAGAIN
    ngx_atomic_t  slot_map_loads;    // cluster: CLUSTER SLOTS answered
    ngx_atomic_t  master_switches;   // sentinel: a new master was named
    ngx_atomic_t  leaked[3];         // leak reports: keys acted on, by LeakAction
    ngx_atomic_t  in_flight;
    ngx_atomic_t  latency[ngx_http_apikey_latency_buckets];
    ngx_atomic_t  latency_sum_us;
    ngx_http_apikey_key_stats_t  key_stats;
    ngx_atomic_t  fail_cached[3];    // apikey_fail_mode cached: admitted, refused, unknown
    // apikey_cache: from an invalidation's publication (the publisher's
    // clock) to its key leaving this worker's view of the zone
    ngx_atomic_t  invalidation_lag[apikey::kLagBuckets];
    ngx_atomic_t  invalidation_lag_sum_us;
    ngx_atomic_t  usage_flushes;     // per-key usage: a worker's batch sent
    ngx_atomic_t  usage_dropped;     // counts lost: table full, or no connection
    ngx_atomic_t  usage_errors;      // usage commands Redis refused or lost

    // not a metric: the second each kind of rate-limited log line was last
    // written in, so "at most once a second" holds for all workers together
    ngx_atomic_t  last_logged[NGX_HTTP_APIKEY_LOG_KINDS];
};

enum ngx_http_apikey_redirect_e {
    NGX_HTTP_APIKEY_MOVED = 0,
    NGX_HTTP_APIKEY_ASK,
    NGX_HTTP_APIKEY_TRYAGAIN,
};

enum ngx_http_apikey_fail_cached_e {
    NGX_HTTP_APIKEY_LKG_ADMITTED = 0,
    NGX_HTTP_APIKEY_LKG_REFUSED,
    NGX_HTTP_APIKEY_LKG_UNKNOWN,
};

// NULL until init_process (and in processes that serve no requests).
extern ngx_http_apikey_metrics_t  *ngx_http_apikey_metrics;

#define ngx_http_apikey_count(field, n)                                       \
    do {                                                                      \
        if (ngx_http_apikey_metrics) {                                        \
            (void) ngx_atomic_fetch_add(&ngx_http_apikey_metrics->field, n);  \
        }                                                                     \
    } while (0)

ngx_int_t ngx_http_apikey_metrics_zone(ngx_conf_t *cf, ngx_http_apikey_main_conf_t *mcf);
void ngx_http_apikey_metrics_attach(ngx_http_apikey_main_conf_t *mcf);
void ngx_http_apikey_count_outcome(apikey::Outcome outcome, bool dry_run);
void ngx_http_apikey_count_round_trip(uint64_t elapsed_us);
void ngx_http_apikey_count_invalidation_lag(int64_t lag_us);

// Monotonic microseconds, for round-trip times (ngx_current_msec is too coarse).
uint64_t ngx_http_apikey_now_us();

char *ngx_http_apikey_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
