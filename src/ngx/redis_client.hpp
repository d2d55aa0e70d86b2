// One Redis connection per worker, shared by every request of that worker.
//
// hiredis pipelines: every command issued while a write is pending goes out in
// the same write, and replies come back in order. The client reconnects with
// backoff (50 ms doubling to 500 ms, so a Redis that comes back is used again
// within a second, and a dead one costs at most two connects a second), and
// fails requests at once while it waits, so a dead Redis never holds requests
// for longer than their timeout. A connection that stops answering is dropped
// when a request times out on it and nothing has been heard for that long.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include <hiredis/async.h>

namespace apikey {

// What a request hands to the client while it waits. hiredis's privdata points
// here, never at the request: when the request goes away first, `ctx` is set
// to NULL and the late reply lands harmlessly.
struct RedisPending {
    ngx_http_apikey_ctx_t  *ctx;
    bool                    retried;  // NOSCRIPT already handled once
    uint64_t                sent_us;  // for the round-trip histogram
};

class RedisClient {
public:
    // kCommands: the connection checks go through (SCRIPT LOAD at setup).
    // kSubscriber: a connection of its own subscribed to <prefix>invalidate,
    // for apikey_cache (a subscribed connection can send nothing else).
    enum class Role { kCommands, kSubscriber };

    RedisClient(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log,
                Role role = Role::kCommands) noexcept;
    ~RedisClient();

    RedisClient(const RedisClient &) = delete;
    RedisClient &operator=(const RedisClient &) = delete;

    void start() noexcept;

    // Queues a command; `fn` is called exactly once with the reply, or with
    // NULL if the connection is lost first. Returns false when there is no
    // usable connection (the caller fails the request at once).
    bool send(int argc, const char **argv, const size_t *argvlen,
              redisCallbackFn *fn, void *privdata) noexcept;

    // The same, for a command already in RESP (the checks, formatted into the
    // request pool by the caller).
    bool send_formatted(const ngx_str_t &command, redisCallbackFn *fn, void *privdata) noexcept;

    // Queues SCRIPT LOAD (after NOSCRIPT: someone ran SCRIPT FLUSH).
    void load_script() noexcept;

    // Reply bookkeeping, from every reply callback.
    void note_reply() noexcept;

    // A request gave up waiting; drop the connection if it has gone silent.
    void note_timeout(ngx_msec_t timeout) noexcept;

    ngx_log_t *log() const noexcept { return log_; }

    // kSubscriber: true while the subscription stands; the cache may be used
    // only then (a change could be missed otherwise)
    bool subscribed() const noexcept { return subscribed_ && ac_ != nullptr; }

    // kSubscriber: called when the subscription is (re)established, and with
    // the key id of each invalidation message
    void (*on_subscribed)() = nullptr;
    void (*on_invalidation)(std::string_view id) = nullptr;

private:
    enum class State { kIdle, kConnecting, kReady, kBackoff, kClosed };

    void connect() noexcept;
    // each connection's faults are rate-limited apart, so the subscriber's
    // never hide the command connection's (or the other way round)
    ngx_uint_t log_kind() const noexcept {
        return role_ == Role::kSubscriber ? NGX_HTTP_APIKEY_LOG_SUBSCRIBER
                                          : NGX_HTTP_APIKEY_LOG_CONNECT;
    }
    bool usable() noexcept;      // connected or connecting (connects when idle)
    void note_sent() noexcept;
    void drop(const char *reason) noexcept;
    void schedule_reconnect() noexcept;
    void queue_setup() noexcept;

    static void on_connect(const redisAsyncContext *ac, int status);
    static void on_disconnect(const redisAsyncContext *ac, int status);
    static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_message(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_reconnect_timer(ngx_event_t *ev);
    static void on_connect_timeout(ngx_event_t *ev);

    ngx_http_apikey_main_conf_t  *conf_;
    Role                          role_;
    bool                          subscribed_ = false;
    ngx_log_t                    *log_;
    redisAsyncContext            *ac_ = nullptr;
    State                         state_ = State::kIdle;
    ngx_msec_t                    backoff_ = 0;
    ngx_uint_t                    outstanding_ = 0;
    ngx_msec_t                    last_progress_ = 0;
    ngx_event_t                   reconnect_ev_;
    ngx_event_t                   connect_timeout_ev_;
    bool                          connected_once_ = false;
};

}  // namespace apikey
