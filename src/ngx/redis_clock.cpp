// Redis's clock as this worker has learnt it from the check script's replies:
// the check's deadline is written on it, and quotas and /me read it.
#include "ngx_http_apikey_module.hpp"

#include <ctime>

// Redis's clock as this worker sees it: every script reply carries Redis's
// TIME (ms), and the reply's round trip bounds when the script ran. The offset
// (Redis minus worker) is learnt from the tightest recent sample: one with a
// shorter round trip, or any once the kept one is ten seconds old (clocks
// drift and get stepped). Before the first reply it is taken to be zero: the
// clocks are assumed to agree (NTP).
struct ngx_http_apikey_redis_clock_t {
    int64_t   offset_ms;     // midpoint estimate
    int64_t   half_rtt_ms;   // its uncertainty, either way
    time_t    sampled_at;
    bool      known;
};

static ngx_http_apikey_redis_clock_t  ngx_http_apikey_clock;

static constexpr time_t  ngx_http_apikey_clock_sample_age = 10;


// The worker's wall clock now, in ms (not the event loop's cached time: the
// sample is paired with a round trip measured to the microsecond).
static int64_t
ngx_http_apikey_wall_ms()
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}


// `force`: the kept sample has just proved wrong.
void
ngx_http_apikey_learn_clock(int64_t redis_ms, uint64_t rtt_us, bool force)
{
    int64_t   recv_ms = ngx_http_apikey_wall_ms();
    int64_t   half = static_cast<int64_t>(rtt_us / 2000) + 1;
    int64_t   mid = redis_ms - (recv_ms - half);
    time_t    now = ngx_time();
    ngx_http_apikey_redis_clock_t  *c = &ngx_http_apikey_clock;

    if (force || !c->known || half <= c->half_rtt_ms
        || now - c->sampled_at >= ngx_http_apikey_clock_sample_age)
    {
        c->offset_ms = mid;
        c->half_rtt_ms = half;
        c->sampled_at = now;
        c->known = true;
    }
}


int64_t
ngx_http_apikey_redis_offset_ms()
{
    return ngx_http_apikey_clock.offset_ms;
}


int64_t
ngx_http_apikey_redis_now(int64_t fallback_offset_ms)
{
    ngx_time_t  *tp = ngx_timeofday();
    int64_t      offset = ngx_http_apikey_clock.known ? ngx_http_apikey_clock.offset_ms
                                                      : fallback_offset_ms;

    return (static_cast<int64_t>(tp->sec) * 1000 + tp->msec + offset) / 1000;
}


// When the module gives up on a call sent now, on Redis's clock: late rather
// than early by the offset's uncertainty, so that a call the module still
// waits for is never taken for a late one.
int64_t
ngx_http_apikey_deadline_ms(ngx_msec_t timeout)
{
    return ngx_http_apikey_wall_ms() + static_cast<int64_t>(timeout)
           + ngx_http_apikey_clock.offset_ms + ngx_http_apikey_clock.half_rtt_ms;
}
