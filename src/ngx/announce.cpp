#include "announce.hpp"
#include "guard.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "cache.hpp"
#include "invalidation.hpp"
#include "metrics.hpp"
#include "redis_topology.hpp"

namespace {

ngx_http_apikey_main_conf_t  *announce_conf;
ngx_event_t                   announce_ev;
// "INSTANCE:PID", this worker's member in <prefix>workers and the ack sets
char                          member[160];
size_t                        member_len;
bool                          refusal_logged;


std::string_view
prefix()
{
    return ngx_http_apikey_sv(announce_conf->prefix);
}


void
note_reply(redisAsyncContext *ac, void *r, void *)
{
    auto *reply = static_cast<redisReply *>(r);

    apikey::RedisClient::of(ac)->note_reply();

    apikey::RedisTopology *redis = ngx_http_apikey_redis();
    if (redis && apikey::reply_error_is(reply, "MOVED")) {
        redis->refresh_soon();
    }

    // an ACL without the commands (README: least-privilege users): said
    // once per worker, the waiters then report this worker as unconfirmed
    if (reply && reply->type == REDIS_REPLY_ERROR && !refusal_logged
        && !apikey::reply_error_is(reply, "MOVED") && !apikey::reply_error_is(reply, "ASK"))
    {
        refusal_logged = true;
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apikey: cache: announcing this worker or acknowledging an invalidation "
                      "failed: %*s", static_cast<size_t>(reply->len), reply->str);
    }
}


// One EVAL of `script` with one key and two arguments, on the key's node.
void
eval(const char *script, const std::string &key, std::string_view arg2)
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (redis == NULL) {
        return;
    }

    apikey::RedisClient *to = redis->for_key(key);
    if (to == NULL) {
        return;   // a cluster whose slot map is not in yet: the next round
    }

    const char *argv[] = {"EVAL", script, "1", key.c_str(), member, arg2.data()};
    size_t lens[] = {4, ngx_strlen(script), 1, key.size(), member_len, arg2.size()};

    to->send(6, argv, lens, ngx_http_apikey_guard<note_reply>, NULL);
}


void
announce()
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    // only a worker that would hear an invalidation says it is there: one
    // whose subscription is down does not use the cache anyway
    if (redis == NULL || !redis->subscribed()) {
        return;
    }

    // the announcement lives three periods: one lost renewal is no absence
    eval(apikey::kAnnounceScript, apikey::workers_key(prefix()),
         std::to_string(announce_conf->cache->announce * 3));
}


void
on_announce_timer(ngx_event_t *ev)
{
    // armed again first: a failure below (out of memory) costs one round,
    // not every later one
    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, announce_conf->cache->announce);
    }

    announce();
}


int64_t
wall_us()
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);
    return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
}

}  // namespace


void
ngx_http_apikey_announce_init(ngx_http_apikey_main_conf_t *mcf, ngx_cycle_t *cycle)
{
    ngx_str_t  instance = mcf->cache->instance;
    u_char     buf[128 + NGX_INT64_LEN + 2];

    announce_conf = mcf;

    if (instance.len == 0) {
        // hostname:masterpid tells apart two nginx on one host; the
        // hostname's odd characters (none, usually) become '-'
        pid_t master = ngx_process == NGX_PROCESS_SINGLE ? ngx_pid : getppid();
        u_char *p = ngx_cpymem(buf, cycle->hostname.data, ngx_min(cycle->hostname.len, 100));
        for (u_char *q = buf; q < p; q++) {
            if (!apikey::valid_instance_name(std::string_view(reinterpret_cast<char *>(q), 1))) {
                *q = '-';
            }
        }
        p = ngx_sprintf(p, ":%P", master);
        instance.data = buf;
        instance.len = p - buf;
    }

    std::string m = apikey::worker_member(ngx_http_apikey_sv(instance), static_cast<long>(ngx_pid));
    member_len = ngx_min(m.size(), sizeof(member) - 1);
    ngx_memcpy(member, m.data(), member_len);
    member[member_len] = '\0';

    ngx_memzero(&announce_ev, sizeof(announce_ev));
    announce_ev.handler = ngx_http_apikey_guard<on_announce_timer>;
    announce_ev.log = cycle->log;
    announce_ev.data = &announce_ev;
    announce_ev.cancelable = 1;   // never holds up a worker's shutdown

    ngx_add_timer(&announce_ev, mcf->cache->announce);
}


void
ngx_http_apikey_announce_now()
{
    if (announce_conf != NULL) {
        announce();
    }
}


void
ngx_http_apikey_invalidation_message(std::string_view text)
{
    auto m = apikey::parse_invalidation(text);

    if (!m || announce_conf == NULL) {
        return;
    }

    ngx_http_apikey_cache_invalidate(announce_conf->cache, m->id);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "apikey: cache: invalidated key \"%*s\"", m->id.size(), m->id.data());

    if (m->published_us > 0) {
        ngx_http_apikey_count_invalidation_lag(wall_us() - m->published_us);
    }

    if (!m->event.empty()) {
        // the key is gone from the zone: say so, for this worker
        eval(apikey::kAckScript, apikey::ack_key(prefix(), m->event),
             std::to_string(apikey::kAckLifetimeSeconds));
    }
}


void
ngx_http_apikey_announce_withdraw()
{
    apikey::RedisTopology  *redis = ngx_http_apikey_redis();

    if (announce_conf == NULL || redis == NULL) {
        return;
    }

    std::string key = apikey::workers_key(prefix());
    apikey::RedisClient *to = redis->for_key(key);
    if (to == NULL) {
        return;
    }

    const char *argv[] = {"ZREM", key.c_str(), member};
    size_t lens[] = {4, key.size(), member_len};

    if (to->send(3, argv, lens, ngx_http_apikey_guard<note_reply>, NULL)) {
        to->write_now();
    }
}
