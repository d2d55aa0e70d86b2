// Per-key usage, the nginx side: see usage_flush.hpp.
//
// The worker's table fills between flushes; the first count after a flush
// arms a 1 s timer, and the timer sends, per key-day, one HINCRBY per result
// counted and one EXPIREAT, pipelined on the connection that holds the key's
// slot. A flush of many keys (tens of thousands of keys used in a second) goes
// out in slices of kSlice key-days, one per turn of the event loop: the
// worker never stops for long to format them, and the checks sent meanwhile
// wait in Redis behind one slice, not behind the whole flush (sent at once,
// 40,000 keys in a second put a 50 ms p99 on every check, make bench (7)). An idle worker has no timer. The timer is not cancelable: a worker
// shutting down gracefully waits for it (at most a second) so the last
// counts are written, and then for their replies (at most another second:
// nginx exits as soon as no timer is left, and the commands leave on the
// event loop's next pass); a worker terminated at once loses them.
#include "usage_flush.hpp"

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "guard.hpp"
#include "metrics.hpp"
#include "redis_topology.hpp"
#include "usage.hpp"

using apikey::RedisClient;
using apikey::UsageResult;

namespace {

constexpr ngx_msec_t  kFlushInterval = 1000;
constexpr std::size_t kSlice = 256;          // key-days sent per turn of the event loop
constexpr ngx_msec_t  kDrainTick = 50;        // a worker shutting down: replies still due
constexpr ngx_uint_t  kDrainTicks = 20;

// Distinct key-days a worker holds between two flushes; counts of new ones
// beyond it are dropped (apikey_usage_dropped_total): 100,000 keys active in
// one second are far beyond any one worker.
constexpr std::size_t kMaxKeyDays = 100000;

struct Usage {
    ngx_event_t         timer;
    ngx_event_t         slice;            // the next slice of a flush, next turn
    std::string         prefix;
    apikey::UsageTable  table{kMaxKeyDays};
    std::vector<apikey::UsageIncrement>  flushing;   // a flush on its way
    std::size_t         sent = 0;         // its key-days sent so far
    std::size_t         pending = 0;      // replies due to commands sent
    ngx_uint_t          drain_ticks = 0;
};

Usage  *usage;


void
on_reply(redisAsyncContext *, void *r, void *)
{
    auto *reply = static_cast<redisReply *>(r);

    if (usage != nullptr && usage->pending > 0) {
        usage->pending--;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_count(usage_errors, 1);
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        // e.g. NOPERM: the module's ACL user lacks +hincrby +expireat
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_USAGE, NGX_LOG_ERR, ngx_cycle->log, 0,
                                    "apikey: usage: redis error: %*s",
                                    static_cast<size_t>(reply->len > 200 ? 200 : reply->len),
                                    reply->str);
    }
}


// Sends one key-day's counts; false when there is no connection for it.
bool
send_increment(apikey::RedisTopology *redis, const apikey::UsageIncrement &inc)
{
    std::string key = apikey::usage_redis_key(usage->prefix, inc.id, inc.day);
    RedisClient *client = redis ? redis->for_key(key) : nullptr;
    bool sent = client != nullptr;

    for (unsigned i = 0; sent && i < apikey::kUsageResults; i++) {
        if (inc.counts[i] == 0) {
            continue;
        }
        std::string_view field = apikey::usage_word(static_cast<UsageResult>(i));
        std::string n = std::to_string(inc.counts[i]);
        const char *argv[] = {"HINCRBY", key.data(), field.data(), n.data()};
        size_t lens[] = {7, key.size(), field.size(), n.size()};
        sent = client->send(4, argv, lens, ngx_http_apikey_guard<on_reply>, nullptr);
        usage->pending += sent;
    }

    if (sent) {
        std::string at = std::to_string(apikey::usage_expire_at(inc.day));
        const char *argv[] = {"EXPIREAT", key.data(), at.data()};
        size_t lens[] = {8, key.size(), at.size()};
        sent = client->send(3, argv, lens, ngx_http_apikey_guard<on_reply>, nullptr);
        usage->pending += sent;
    }

    return sent;
}


// Sends the next slice of the flush on its way (all of it when `all`: a
// worker shutting down), and has the rest follow on the next turn.
void
send_slice(bool all) noexcept
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    try {
        std::size_t end = all ? usage->flushing.size()
                              : std::min(usage->flushing.size(), usage->sent + kSlice);

        for (; usage->sent < end; usage->sent++) {
            const auto &inc = usage->flushing[usage->sent];
            if (!send_increment(redis, inc)) {
                std::uint64_t lost = 0;
                for (auto n : inc.counts) {
                    lost += n;
                }
                ngx_http_apikey_count(usage_dropped, lost);
            }
        }

    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "apikey: usage: flush failed");
        usage->sent = usage->flushing.size();   // what is left of it is lost
    }

    if (usage->sent < usage->flushing.size()) {
        if (!usage->slice.timer_set) {
            ngx_add_timer(&usage->slice, 1);   // after the I/O of the next turn
        }
        return;
    }

    usage->flushing.clear();
    usage->sent = 0;
    ngx_http_apikey_count(usage_flushes, 1);
}


void
flush() noexcept
{
    if (!usage->flushing.empty()) {
        // the last flush is still on its way (it was large): this one waits,
        // its counts stay in the table until the next second
        if (ngx_exiting) {
            send_slice(true);
        } else if (!usage->table.empty() && !usage->timer.timer_set) {
            ngx_add_timer(&usage->timer, kFlushInterval);
        }
        if (!ngx_exiting) {
            return;
        }
    }

    if (usage->table.empty()) {
        return;
    }

    try {
        usage->flushing = usage->table.drain();
        usage->sent = 0;
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "apikey: usage: flush failed");
        return;
    }

    send_slice(ngx_exiting != 0);
}


void
on_slice(ngx_event_t *)
{
    send_slice(ngx_exiting != 0);
}


void
on_timer(ngx_event_t *ev)
{
    flush();

    if (ngx_exiting && usage->pending > 0 && usage->drain_ticks++ < kDrainTicks) {
        ngx_add_timer(ev, kDrainTick);   // keeps the worker until the replies are in
    }
}

}  // namespace


void
ngx_http_apikey_usage_count(const ngx_str_t &id, apikey::Outcome outcome) noexcept
{
    if (usage == nullptr || id.len == 0) {
        return;
    }

    auto result = apikey::usage_result_of(outcome);
    if (!result) {
        return;
    }

    bool counted = false;
    try {
        counted = usage->table.add(std::string_view(reinterpret_cast<const char *>(id.data), id.len),
                                   apikey::usage_day(ngx_time()), *result);
    } catch (...) {
        // out of memory: dropped, as when the table is full
    }

    if (!counted) {
        ngx_http_apikey_count(usage_dropped, 1);
        return;
    }

    if (!usage->timer.timer_set) {
        ngx_add_timer(&usage->timer, kFlushInterval);
    }
}


ngx_int_t
ngx_http_apikey_usage_start(ngx_cycle_t *cycle)
{
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apikey_module));

    if (mcf->usage == 0) {   // apikey_usage off
        return NGX_OK;
    }

    usage = new (std::nothrow) Usage();
    if (usage == nullptr) {
        return NGX_ERROR;
    }

    try {
        usage->prefix.assign(reinterpret_cast<const char *>(mcf->prefix.data), mcf->prefix.len);
    } catch (...) {
        return NGX_ERROR;
    }

    usage->timer.handler = ngx_http_apikey_guard<on_timer>;
    usage->timer.log = cycle->log;
    usage->timer.data = usage;
    usage->slice.handler = ngx_http_apikey_guard<on_slice>;
    usage->slice.log = cycle->log;
    usage->slice.data = usage;

    return NGX_OK;
}


void
ngx_http_apikey_usage_release() noexcept
{
    if (usage == nullptr) {
        return;
    }

    if (usage->timer.timer_set) {
        ngx_del_timer(&usage->timer);
    }

    if (usage->slice.timer_set) {
        ngx_del_timer(&usage->slice);
    }

    delete usage;
    usage = nullptr;
}
