// apikey_metrics: Prometheus text exposition of the shared counters.
#include "metrics.hpp"
#include "guard.hpp"
#include "key_stats.hpp"

#include <ctime>
#include <string>

ngx_http_apikey_metrics_t  *ngx_http_apikey_metrics;


uint64_t
ngx_http_apikey_now_us()
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}


static ngx_int_t
ngx_http_apikey_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        shm_zone->data = data;   // a reload: keep counting where we were
        return NGX_OK;
    }

    shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    shm_zone->data = ngx_slab_calloc(shpool, sizeof(ngx_http_apikey_metrics_t));
    if (shm_zone->data == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm_zone->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_apikey_metrics_zone(ngx_conf_t *cf, ngx_http_apikey_main_conf_t *mcf)
{
    static ngx_str_t  name = ngx_string("apikey_metrics");

    mcf->metrics = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize, &ngx_http_apikey_module);
    if (mcf->metrics == NULL) {
        return NGX_ERROR;
    }

    mcf->metrics->init = ngx_http_apikey_guard<ngx_http_apikey_metrics_init_zone>;

    return NGX_OK;
}


void
ngx_http_apikey_metrics_attach(ngx_http_apikey_main_conf_t *mcf)
{
    ngx_http_apikey_metrics = mcf->metrics
        ? static_cast<ngx_http_apikey_metrics_t *>(mcf->metrics->data) : NULL;
}


void
ngx_http_apikey_count_outcome(apikey::Outcome outcome, bool dry_run)
{
    if (dry_run) {
        ngx_http_apikey_count(requests_dry_run[static_cast<ngx_uint_t>(outcome)], 1);
    } else {
        ngx_http_apikey_count(requests[static_cast<ngx_uint_t>(outcome)], 1);
    }
}


void
ngx_http_apikey_count_round_trip(uint64_t elapsed_us)
{
    ngx_uint_t  i;

    if (ngx_http_apikey_metrics == NULL) {
        return;
    }

    for (i = 0; i + 1 < ngx_http_apikey_latency_buckets; i++) {
        if (elapsed_us <= ngx_http_apikey_latency_bounds_us[i]) {
            break;
        }
    }

    ngx_http_apikey_count(latency[i], 1);
    ngx_http_apikey_count(latency_sum_us, elapsed_us);
    ngx_http_apikey_count(round_trips, 1);
}


void
ngx_http_apikey_count_invalidation_lag(int64_t lag_us)
{
    // clocks of two hosts apart: a message "from the future" took no time
    uint64_t  lag = lag_us > 0 ? static_cast<uint64_t>(lag_us) : 0;

    ngx_http_apikey_count(invalidation_lag[apikey::lag_bucket(lag_us)], 1);
    ngx_http_apikey_count(invalidation_lag_sum_us, lag);
}


static void
ngx_http_apikey_metric(std::string &out, const char *name, const char *type, const char *help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}


// A metric with one sample and no labels: its header and its value.
static void
ngx_http_apikey_metric(std::string &out, const char *name, const char *type, const char *help,
    uint64_t value)
{
    ngx_http_apikey_metric(out, name, type, help);
    out += name;
    out += ' ' + std::to_string(value) + '\n';
}


static std::string
ngx_http_apikey_seconds(uint64_t us)
{
    char  buf[32];

    ngx_snprintf(reinterpret_cast<u_char *>(buf), sizeof(buf), "%uL.%06uL%Z",
                 us / 1000000, us % 1000000);
    return buf;
}


// The key hygiene gauges of the last complete count (src/ngx/hygiene.cpp),
// copied out under its version so that they all come from one count. Until
// a first count has ended they are absent, not zero.
static void
ngx_http_apikey_render_key_stats(std::string &out, const ngx_http_apikey_key_stats_t &shared)
{
    using apikey::KeyStats;

    ngx_http_apikey_key_stats_t  copy;
    ngx_atomic_uint_t            version;
    ngx_uint_t                   i, tries;

    for (tries = 0; tries < 100; tries++) {
        version = shared.version;
        ngx_memory_barrier();
        ngx_memcpy(&copy, &shared, sizeof(copy));
        ngx_memory_barrier();
        if (version % 2 == 0 && version == shared.version) {
            break;
        }
        ngx_cpu_pause();
    }

    ngx_http_apikey_metric(out, "apikey_key_stats_runs_total", "counter",
                           "Counts of the keys in Redis (SCAN, at most once a minute) that "
                           "ended: complete, or failed (tried again within a minute).");
    out += "apikey_key_stats_runs_total{result=\"complete\"} " + std::to_string(copy.runs[0])
           + "\napikey_key_stats_runs_total{result=\"failed\"} "
           + std::to_string(copy.runs[1]) + "\n";

    if (tries == 100 || copy.counted_at == 0) {
        return;
    }

    ngx_http_apikey_metric(out, "apikey_keys_counted_timestamp_seconds", "gauge",
                           "When the key gauges below were last counted (unix time).",
                           copy.counted_at);

    ngx_http_apikey_metric(out, "apikey_keys", "gauge",
                           "Keys in Redis by status (expired: active with expires passed).");
    for (i = 0; i < KeyStats::kStatuses; i++) {
        out += "apikey_keys{status=\"";
        out += KeyStats::status_name(i);
        out += "\"} " + std::to_string(copy.keys[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_keys_expiring", "gauge",
                           "Active keys that expire within 7 or 30 days.");
    for (i = 0; i < KeyStats::kExpiringDays.size(); i++) {
        out += "apikey_keys_expiring{within=\"" + std::to_string(KeyStats::kExpiringDays[i])
               + "d\"} " + std::to_string(copy.expiring[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_keys_unused", "gauge",
                           "Active keys not used for more than 30 or 90 days (never used: "
                           "created that long ago).");
    for (i = 0; i < KeyStats::kUnusedDays.size(); i++) {
        out += "apikey_keys_unused{for=\"" + std::to_string(KeyStats::kUnusedDays[i])
               + "d\"} " + std::to_string(copy.unused[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_keys_near_limit", "gauge",
                           "Active keys that used 80% or more of a quota of their own (or "
                           "their plan's) this period, or of their credits.",
                           copy.near_limit);
}


// apikey_requests_total's samples, one per result word.
static void
ngx_http_apikey_render_requests(std::string &out, const ngx_atomic_t *requests,
    const char *more_labels)
{
    for (ngx_uint_t i = 0; i < ngx_http_apikey_outcomes; i++) {
        auto outcome = static_cast<apikey::Outcome>(i);
        if (outcome == apikey::Outcome::kAmbiguous) {
            continue;   // counted with kMalformed: they share the result word
        }
        uint64_t n = requests[i];
        if (outcome == apikey::Outcome::kMalformed) {
            n += requests[static_cast<ngx_uint_t>(apikey::Outcome::kAmbiguous)];
        }
        out += "apikey_requests_total{result=\"";
        out += apikey::result_word(outcome);
        out += '"';
        out += more_labels;
        out += "} " + std::to_string(n) + "\n";
    }
}


static std::string
ngx_http_apikey_render(const ngx_http_apikey_metrics_t &m)
{
    std::string  out;
    ngx_uint_t   i;
    uint64_t     cumulative;

    ngx_http_apikey_metric(out, "apikey_requests_total", "counter",
                           "Requests checked by the module, by result; dry_run=\"1\": "
                           "checked under apikey_dry_run (a refusal result was let through).");
    ngx_http_apikey_render_requests(out, m.requests, "");

    bool dry_runs = false;
    for (i = 0; i < ngx_http_apikey_outcomes; i++) {
        dry_runs = dry_runs || m.requests_dry_run[i] != 0;
    }
    if (dry_runs) {
        ngx_http_apikey_render_requests(out, m.requests_dry_run, ",dry_run=\"1\"");
    }

    ngx_http_apikey_metric(out, "apikey_redis_round_trips_total", "counter",
                           "Replies received from Redis to checks.",
                           m.round_trips);

    ngx_http_apikey_metric(out, "apikey_redis_batches_total", "counter",
                           "Script calls that carried two checks or more (apikey_redis_batch).",
                           m.batches);

    ngx_http_apikey_metric(out, "apikey_redis_batched_checks_total", "counter",
                           "Checks sent to Redis in those calls.",
                           m.batched_checks);

    ngx_http_apikey_metric(out, "apikey_redis_errors_total", "counter",
                           "Checks that Redis answered with an error or an unusable reply, "
                           "or lost with the connection.",
                           m.redis_errors);

    ngx_http_apikey_metric(out, "apikey_redis_timeouts_total", "counter",
                           "Checks that gave up waiting for Redis (apikey_redis_timeout).",
                           m.redis_timeouts);

    ngx_http_apikey_metric(out, "apikey_redis_reconnects_total", "counter",
                           "Connection attempts to Redis after a worker's first.",
                           m.reconnects);

    ngx_http_apikey_metric(out, "apikey_redis_redirects_total", "counter",
                           "Redis Cluster redirects followed: MOVED (the slot has a new "
                           "owner), ASK (the slot is being migrated), TRYAGAIN (retried "
                           "while a key's slot is split by a migration).");
    static const char *kinds[] = {"moved", "ask", "tryagain"};
    for (i = 0; i < 3; i++) {
        out += std::string("apikey_redis_redirects_total{kind=\"") + kinds[i] + "\"} "
               + std::to_string(m.redirects[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_redis_slot_map_loads_total", "counter",
                           "Redis Cluster slot maps loaded (CLUSTER SLOTS).",
                           m.slot_map_loads);

    ngx_http_apikey_metric(out, "apikey_redis_master_switches_total", "counter",
                           "Redis Sentinel: times a worker moved to a newly named master.",
                           m.master_switches);

    ngx_http_apikey_metric(out, "apikey_leaked_keys_total", "counter",
                           "Keys of ours named by a verified leaked-key report "
                           "(apikey_leak_report), by the action taken.");
    static const char *actions[] = {"revoke", "disable", "flag"};   // apikey::LeakAction
    for (i = 0; i < 3; i++) {
        out += std::string("apikey_leaked_keys_total{action=\"") + actions[i] + "\"} "
               + std::to_string(m.leaked[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_usage_flushes_total", "counter",
                           "Per-key usage: batches of counts a worker sent to Redis "
                           "(at most one a second per worker).",
                           m.usage_flushes);

    ngx_http_apikey_metric(out, "apikey_usage_dropped_total", "counter",
                           "Per-key usage: requests not counted (a worker's table full, or "
                           "no connection to the key's Redis at the flush).",
                           m.usage_dropped);

    ngx_http_apikey_metric(out, "apikey_usage_errors_total", "counter",
                           "Per-key usage: commands Redis answered with an error or "
                           "lost with the connection.",
                           m.usage_errors);

    ngx_http_apikey_metric(out, "apikey_checks_in_flight", "gauge",
                           "Checks waiting for Redis now.",
                           m.in_flight);

    ngx_http_apikey_metric(out, "apikey_fail_cached_total", "counter",
                           "Requests answered from the last-known-good cache while Redis "
                           "was unavailable (apikey_fail_mode cached): admitted, refused "
                           "(scope, expiry, rate limit...), or unknown to the cache (503).");
    static const char *lkg[] = {"admitted", "refused", "unknown"};
    for (i = 0; i < 3; i++) {
        out += std::string("apikey_fail_cached_total{result=\"") + lkg[i] + "\"} "
               + std::to_string(m.fail_cached[i]) + "\n";
    }

    ngx_http_apikey_metric(out, "apikey_redis_round_trip_seconds", "histogram",
                           "Time from sending a check to Redis to its reply.");
    cumulative = 0;
    for (i = 0; i < ngx_http_apikey_latency_buckets; i++) {
        cumulative += m.latency[i];
        out += "apikey_redis_round_trip_seconds_bucket{le=\"";
        out += i + 1 < ngx_http_apikey_latency_buckets
               ? ngx_http_apikey_seconds(ngx_http_apikey_latency_bounds_us[i]) : "+Inf";
        out += "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "apikey_redis_round_trip_seconds_sum " + ngx_http_apikey_seconds(m.latency_sum_us)
           + "\n";
    out += "apikey_redis_round_trip_seconds_count " + std::to_string(cumulative) + "\n";

    ngx_http_apikey_metric(out, "apikey_invalidation_lag_seconds", "histogram",
                           "apikey_cache: time from an invalidation's publication (by the "
                           "publisher's clock) to the key leaving the cache, per worker; "
                           "messages carrying a time only (apikeyctl --wait, ?wait=).");
    cumulative = 0;
    for (i = 0; i < apikey::kLagBuckets; i++) {
        cumulative += m.invalidation_lag[i];
        out += "apikey_invalidation_lag_seconds_bucket{le=\"";
        out += i + 1 < apikey::kLagBuckets
               ? ngx_http_apikey_seconds(static_cast<uint64_t>(apikey::kLagBoundsUs[i])) : "+Inf";
        out += "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "apikey_invalidation_lag_seconds_sum "
           + ngx_http_apikey_seconds(m.invalidation_lag_sum_us) + "\n";
    out += "apikey_invalidation_lag_seconds_count " + std::to_string(cumulative) + "\n";

    ngx_http_apikey_render_key_stats(out, m.key_stats);

    return out;
}


static ngx_int_t
ngx_http_apikey_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    std::string   text;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_apikey_metrics == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    text = ngx_http_apikey_render(*ngx_http_apikey_metrics);

    return ngx_http_apikey_send_body(r, NGX_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                     text);
}


char *
ngx_http_apikey_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = ngx_http_apikey_guard<ngx_http_apikey_metrics_handler, NGX_HTTP_INTERNAL_SERVER_ERROR>;

    // a scrape shows the key gauges: have the workers count the keys
    static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_apikey_module))->key_stats = 1;

    return NGX_CONF_OK;
}
