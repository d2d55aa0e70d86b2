// Key hygiene gauges: see hygiene.hpp.
//
// Every worker looks every few seconds whether a count is due; the first to
// claim the minute in shared memory counts, the others go on. A count walks
// each server that holds keys (each master of a cluster) with SCAN over
// <prefix>key:*, a page of up to 500 records at a time, reading the fields it
// needs with one HMGET per record, pipelined behind the SCAN's reply. Redis
// sees one SCAN and a page of HMGETs at a time, never a long command: 100,000
// keys are about 200 pages a minute, well under a percent of one Redis core.
// A count that fails (a connection lost, an error reply) leaves the last
// complete one in place and is tried again after the minute.
#include "hygiene.hpp"

#include <array>
#include <new>
#include <string>
#include <vector>

#include "guard.hpp"
#include "key_stats.hpp"
#include "metrics.hpp"
#include "redis_topology.hpp"

using apikey::KeyFacts;
using apikey::KeyStats;
using apikey::RedisClient;

namespace {

constexpr ngx_msec_t  kTick = 5000;     // how often a worker looks whether a count is due
constexpr time_t      kPeriod = 60;     // at most one count a minute, for all workers
constexpr ngx_msec_t  kFirstTick = 1000;   // a new instance counts soon after it starts
constexpr time_t      kRetry = 10;      // after a failed count: Redis may be back by then

// One worker's count in progress. Replies carry the number of the count they
// belong to, so those of a count given up land harmlessly.
struct Census {
    ngx_event_t                 timer;
    std::string                 match;          // SCAN's MATCH pattern
    size_t                      prefix_len = 0; // of the key prefix, in a record's name
    bool                        running = false;
    ngx_uint_t                  count = 0;      // the number of the count running or last run
    std::vector<RedisClient *>  holders;
    size_t                      holder = 0;     // the server being walked
    std::string                 cursor;
    size_t                      waiting = 0;    // replies still due for this page
    // a record read, waiting for its quota counts (the next reply on the
    // same connection): its fields, copied
    std::array<std::string, 10> record;
    bool                        has_record = false;
    time_t                      now = 0;        // the count's clock
    KeyStats                    stats;
};

Census  *census;


void *
tag(ngx_uint_t count) noexcept
{
    return reinterpret_cast<void *>(static_cast<uintptr_t>(count));
}


bool
current(void *privdata) noexcept
{
    return census != nullptr && census->running
           && reinterpret_cast<uintptr_t>(privdata) == census->count;
}


// The figures go to shared memory under a version that is odd while they are
// written, so a scrape never shows half of one count and half of another.
void
publish(const KeyStats &stats, time_t now) noexcept
{
    ngx_http_apikey_key_stats_t  *shared;

    if (ngx_http_apikey_metrics == NULL) {
        return;
    }

    shared = &ngx_http_apikey_metrics->key_stats;

    (void) ngx_atomic_fetch_add(&shared->version, 1);
    ngx_memory_barrier();
    for (unsigned i = 0; i < KeyStats::kStatuses; i++) {
        shared->keys[i] = stats.keys(i);
    }
    for (size_t i = 0; i < KeyStats::kExpiringDays.size(); i++) {
        shared->expiring[i] = stats.expiring(i);
    }
    for (size_t i = 0; i < KeyStats::kUnusedDays.size(); i++) {
        shared->unused[i] = stats.unused(i);
    }
    shared->near_limit = stats.near_limit();
    shared->counted_at = static_cast<ngx_atomic_uint_t>(now);
    ngx_memory_barrier();
    (void) ngx_atomic_fetch_add(&shared->version, 1);
}


void
finish(bool complete) noexcept
{
    census->running = false;
    census->count++;   // replies still due for this count are ignored
    census->holders.clear();

    if (complete) {
        publish(census->stats, census->now);
    }

    ngx_http_apikey_count(key_stats.runs[complete ? 0 : 1], 1);

    if (!complete && ngx_http_apikey_metrics != NULL) {
        // try again in kRetry rather than a minute (unless another worker
        // has claimed a count since)
        ngx_atomic_t *claimed = &ngx_http_apikey_metrics->key_stats.claimed;
        (void) ngx_atomic_cmp_set(claimed, static_cast<ngx_atomic_uint_t>(census->now),
                                  static_cast<ngx_atomic_uint_t>(census->now - kPeriod + kRetry));
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "apikey: key stats: count %s", complete ? "complete" : "failed");
}


void scan() noexcept;


void
page_done() noexcept
{
    if (census->cursor != "0") {
        scan();
        return;
    }

    if (++census->holder < census->holders.size()) {
        census->cursor = "0";
        scan();
        return;
    }

    finish(true);
}


std::string_view
field(const redisReply *r) noexcept
{
    return r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : std::string_view();
}


void
on_fields(redisAsyncContext *, void *r, void *privdata)
{
    auto *reply = static_cast<redisReply *>(r);

    if (!current(privdata)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != census->record.size())
    {
        finish(false);   // lost, or an error (a slot moved meanwhile): next minute
        return;
    }

    // a record deleted since SCAN saw it: status and created nil
    census->has_record = reply->element[0]->type != REDIS_REPLY_NIL
                         || reply->element[3]->type != REDIS_REPLY_NIL;
    for (size_t i = 0; i < census->record.size(); i++) {
        census->record[i].assign(field(reply->element[i]));
    }

    if (--census->waiting == 0) {
        page_done();
    }
}


// The quota counts of the record just read: the key is counted now.
void
on_quota(redisAsyncContext *, void *r, void *privdata)
{
    auto *reply = static_cast<redisReply *>(r);

    if (!current(privdata)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
        finish(false);
        return;
    }

    if (census->has_record) {
        apikey::QuotaCounts counts;
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            counts.emplace_back(field(reply->element[i]), field(reply->element[i + 1]));
        }
        const auto &f = census->record;
        census->stats.add(KeyFacts{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]},
                          census->now, counts);
        census->has_record = false;
    }

    if (--census->waiting == 0) {
        page_done();
    }
}


void
on_page(redisAsyncContext *, void *r, void *privdata)
{
    auto       *reply = static_cast<redisReply *>(r);
    RedisClient  *holder;

    if (!current(privdata)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        finish(false);
        return;
    }

    census->cursor.assign(reply->element[0]->str, reply->element[0]->len);

    const redisReply *keys = reply->element[1];
    holder = census->holders[census->holder];
    census->waiting = 0;

    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *key = keys->element[i];
        if (key->type != REDIS_REPLY_STRING) {
            continue;
        }
        std::string_view name(key->str, key->len);
        if (name.size() <= census->prefix_len + 4) {
            continue;
        }
        const char *argv[] = {"HMGET", key->str, "status", "expires", "last_used", "created",
                              "quota", "plan_quota", "credits", "credits_granted", "refill",
                              "refilled"};
        size_t lens[12];
        for (size_t k = 0; k < 12; k++) {
            lens[k] = k == 1 ? key->len : ngx_strlen(argv[k]);
        }
        // and its quota counts, <prefix>quota:{<id>}: same slot, same
        // connection, so the reply follows the record's
        std::string counts(name.substr(0, census->prefix_len));
        counts += "quota:";
        counts += name.substr(census->prefix_len + 4);
        const char *qargv[] = {"HGETALL", counts.c_str()};
        size_t qlens[] = {7, counts.size()};
        if (!holder->send(12, argv, lens, ngx_http_apikey_guard<on_fields>, privdata)
            || !holder->send(2, qargv, qlens, ngx_http_apikey_guard<on_quota>, privdata))
        {
            finish(false);
            return;
        }
        census->waiting += 2;
    }

    if (census->waiting == 0) {
        page_done();
    }
}


void
scan() noexcept
{
    RedisClient  *holder = census->holders[census->holder];
    const char   *argv[] = {"SCAN", census->cursor.c_str(), "MATCH", census->match.c_str(),
                            "COUNT", "500"};
    size_t        lens[] = {4, census->cursor.size(), 5, census->match.size(), 5, 3};

    if (!holder->send(6, argv, lens, ngx_http_apikey_guard<on_page>, tag(census->count))) {
        finish(false);
    }
}


// Whether this worker takes the count of this minute: the first worker to
// move the claim forward does.
bool
claim(time_t now) noexcept
{
    ngx_atomic_t       *claimed;
    ngx_atomic_uint_t   last;

    if (ngx_http_apikey_metrics == NULL) {
        return false;
    }

    claimed = &ngx_http_apikey_metrics->key_stats.claimed;
    last = *claimed;

    return (last == 0 || static_cast<time_t>(last) + kPeriod <= now)
           && ngx_atomic_cmp_set(claimed, last, static_cast<ngx_atomic_uint_t>(now));
}


void
start_count()
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (redis == nullptr) {
        return;
    }

    census->holders = redis->key_holders();   // may throw: the guard logs it
    census->running = true;
    census->holder = 0;
    census->cursor = "0";
    census->waiting = 0;
    census->now = ngx_time();
    census->stats = KeyStats();

    if (census->holders.empty()) {
        finish(false);   // a cluster's slot map is not known yet
        return;
    }

    scan();
}


void
on_tick(ngx_event_t *ev)
{
    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, kTick);

    if (!census->running && claim(ngx_time())) {
        start_count();
    }
}

}  // namespace


ngx_int_t
ngx_http_apikey_hygiene_start(ngx_cycle_t *cycle)
{
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apikey_module));

    census = new (std::nothrow) Census();
    if (census == nullptr) {
        return NGX_ERROR;
    }

    // MATCH is a glob: a prefix's own *, ?, [ and \ are taken literally
    for (size_t i = 0; i < mcf->prefix.len; i++) {
        char ch = static_cast<char>(mcf->prefix.data[i]);
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') {
            census->match += '\\';
        }
        census->match += ch;
    }
    census->prefix_len = mcf->prefix.len;
    census->match += "key:*";

    census->timer.handler = ngx_http_apikey_guard<on_tick>;
    census->timer.log = cycle->log;
    census->timer.data = census;
    census->timer.cancelable = 1;   // never holds a worker that is shutting down
    ngx_add_timer(&census->timer, kFirstTick);

    return NGX_OK;
}


void
ngx_http_apikey_hygiene_stop()
{
    if (census != nullptr && census->timer.timer_set) {
        ngx_del_timer(&census->timer);
    }
}


void
ngx_http_apikey_hygiene_release()
{
    delete census;
    census = nullptr;
}
