// One Redis connection of a worker, shared by every request of that worker
// that goes to this server (redis_topology.hpp decides which server that is).
//
// The socket is nginx's own: ngx_event_connect_peer() makes it, nginx's SSL
// layer (ngx_ssl_*) speaks TLS on it when apikey_redis says `tls`, and nginx
// closes it. hiredis is kept only as the RESP formatter and reader
// (redisFormatCommandArgv, redisReader). Every connection, plain or TLS, goes
// this one way, so the fault, failover and cluster tests cover the TLS path's
// machinery too.
//
// Commands pipeline: every command issued while a write is pending goes out in
// the same write, and replies come back in order. The client reconnects with
// backoff (50 ms doubling to 500 ms, so a Redis that comes back is used again
// within a second, and a dead one costs at most two connects a second), and
// fails requests at once while it waits, so a dead Redis never holds requests
// for longer than their timeout. A connection that stops answering is dropped
// when a request times out on it and nothing has been heard for that long.
#pragma once

#include "ngx_http_apikey_module.hpp"

// redisAsyncContext and redisCallbackFn: the reply callbacks keep hiredis's
// async signature (see RedisClient::of)
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <string>

#include "topology.hpp"

namespace apikey {

// An error reply with this code ("NOSCRIPT", "READONLY", "MOVED", ...).
inline bool
reply_error_is(const redisReply *reply, std::string_view code) noexcept
{
    return reply != nullptr && reply->type == REDIS_REPLY_ERROR && reply->len >= code.size()
           && std::string_view(reply->str, code.size()) == code;
}

class RedisClient {
public:
    // kCommands: the connection checks go through (SCRIPT LOAD at setup).
    // kSubscriber: a connection of its own subscribed to <prefix>invalidate,
    // for apikey_cache (a subscribed connection can send nothing else).
    // kSentinel: a connection to a sentinel: asks for the master's address,
    // then listens for +switch-master.
    enum class Role { kCommands, kSubscriber, kSentinel };

    // Told what happens to a connection; the topology acts on it.
    class Listener {
    public:
        // lost, refused or timed out (a reconnect is scheduled)
        virtual void on_down(RedisClient &client) noexcept = 0;
        // kSentinel: the sentinel named the master (asked, or +switch-master)
        virtual void on_master(RedisClient &client, const HostPort &master) noexcept = 0;

    protected:
        ~Listener() = default;
    };

    RedisClient(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log,
                Role role = Role::kCommands, Listener *listener = nullptr) noexcept;
    ~RedisClient();

    RedisClient(const RedisClient &) = delete;
    RedisClient &operator=(const RedisClient &) = delete;

    // The client of a reply callback's first argument. That argument is not a
    // hiredis connection any more but a handle the client owns (its `data` is
    // the client), so callbacks written for hiredis's async API still compile
    // and work unchanged. Nothing else in it may be used.
    static RedisClient *of(const redisAsyncContext *ac) noexcept {
        return static_cast<RedisClient *>(ac->data);
    }

    // Where to connect: a numeric host and port, or port 0 and a unix socket
    // path. Changing it closes the connection to the old server (its pending
    // commands fail) and connects to the new one: at once when `at_once`
    // (a new master), else after the current backoff (the next sentinel of
    // a list, none of which may answer).
    void set_target(const std::string &host, int port, bool at_once = true) noexcept;
    bool has_target() const noexcept { return !host_.empty(); }
    bool is_target(const HostPort &hp) const noexcept {
        return port_ == hp.port && host_ == hp.host;
    }
    const ngx_str_t &name() const noexcept { return name_; }

    void start() noexcept;

    // Closes the connection and connects again at once (a sentinel is asked
    // afresh this way).
    void restart() noexcept;

    // Stops reconnecting once the connection is lost, until a command is
    // sent again (a cluster node that serves no slot now).
    void park() noexcept;

    // Connects now if parked (or never needed yet).
    void wake() noexcept {
        parked_ = false;
        if (state_ == State::kIdle && started_) {
            connect();
        }
    }

    // Connected and set up, or about to be: a command sent now goes out.
    bool ready() const noexcept { return state_ == State::kReady || state_ == State::kConnecting; }

    // Queues a command; `fn` is called exactly once with the reply, or with
    // NULL if the connection is lost first. Returns false when there is no
    // usable connection (the caller fails the request at once).
    bool send(int argc, const char **argv, const size_t *argvlen,
              redisCallbackFn *fn, void *privdata) noexcept;

    // The same, for a command already in RESP (the checks, formatted into the
    // request pool by the caller).
    bool send_formatted(const ngx_str_t &command, redisCallbackFn *fn, void *privdata) noexcept;

    // Writes what is queued now rather than on the loop's next pass, without
    // waiting for the socket: a worker's last command at exit (announce.cpp
    // withdraws its announcement). Nothing unless connected.
    void write_now() noexcept {
        if (state_ == State::kReady && c_ != nullptr && out_sent_ < out_len_) {
            flush();
        }
    }

    // Queues SCRIPT LOAD (after NOSCRIPT: someone ran SCRIPT FLUSH).
    void load_script() noexcept;

    // Reply bookkeeping, from every reply callback.
    void note_reply() noexcept;

    // A request gave up waiting; drop the connection if it has gone silent.
    void note_timeout(ngx_msec_t timeout) noexcept;

    ngx_log_t *log() const noexcept { return log_; }

    // kSubscriber: true while the subscription stands; the cache may be used
    // only then (a change could be missed otherwise)
    bool subscribed() const noexcept { return subscribed_ && c_ != nullptr; }

    // kSubscriber: called when the subscription is (re)established, and with
    // the key id of each invalidation message
    void (*on_subscribed)() = nullptr;
    void (*on_invalidation)(std::string_view id) = nullptr;

private:
    enum class State { kIdle, kConnecting, kReady, kBackoff, kClosed };

    // A command's reply callback, waiting for its reply.
    struct Callback {
        redisCallbackFn  *fn;
        void             *privdata;
        bool              subscribe;   // SUBSCRIBE: gets every message after it
    };

    // Callbacks in the order of their commands (a ring would save little:
    // a worker's pipeline is short).
    struct CallbackQueue {
        Callback  *items = nullptr;
        size_t     head = 0;
        size_t     count = 0;
        size_t     capacity = 0;

        bool push(const Callback &cb) noexcept;
        Callback *front() noexcept { return count ? &items[head] : nullptr; }
        void pop() noexcept;
        void release() noexcept;
    };

    void connect() noexcept;
    bool subscribes() const noexcept { return role_ != Role::kCommands; }
    // each connection's faults are rate-limited apart, so the subscriber's
    // never hide the command connection's (or the other way round)
    ngx_uint_t log_kind() const noexcept {
        return role_ == Role::kCommands   ? NGX_HTTP_APIKEY_LOG_CONNECT
               : role_ == Role::kSentinel ? NGX_HTTP_APIKEY_LOG_SENTINEL
                                          : NGX_HTTP_APIKEY_LOG_SUBSCRIBER;
    }
    bool usable() noexcept;      // connected or connecting (connects when idle)
    bool enqueue(const char *cmd, size_t len, const Callback &cb) noexcept;
    void note_sent() noexcept;
    void drop(const char *reason, ngx_uint_t level = NGX_LOG_ERR) noexcept;
    // the connection failed or was lost: log, back off, fail its commands
    void fail(const char *what) noexcept;
    // closes the socket and hands back the callbacks still waiting
    CallbackQueue close_connection() noexcept;
    static void fail_pending(RedisClient *self, CallbackQueue pending) noexcept;
    static void quiet_pending(const CallbackQueue &pending) noexcept;
    // `failed`: tell the listener (not when we closed it to move on)
    void schedule_reconnect(bool failed = true) noexcept;
    void queue_setup() noexcept;
    bool set_address() noexcept;
    void transport_up() noexcept;   // TCP connected: TLS handshake, or ready
    void established() noexcept;    // ready for commands
    void flush() noexcept;
    void read_replies() noexcept;
    bool dispatch() noexcept;       // false: the connection went meanwhile
#if (NGX_SSL)
    void start_tls() noexcept;
    static void on_handshake(ngx_connection_t *c);
#endif

    static void on_read(ngx_event_t *ev);
    static void on_write(ngx_event_t *ev);
    static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_message(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_master_address(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_reconnect_timer(ngx_event_t *ev);
    static void on_connect_timeout(ngx_event_t *ev);
    // nginx's own lines about this connection (connect() failed, SSL errors)
    // are caught here and told once, rate-limited, in the module's words
    static void log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len);
    const char *last_error() noexcept;

    ngx_http_apikey_main_conf_t  *conf_;
    Role                          role_;
    Listener                     *listener_;
    std::string                   host_;       // numeric, or a unix socket path
    int                           port_ = 0;   // 0: unix socket
    std::string                   name_text_;  // "host:port" or "unix:/path", for logs
    ngx_str_t                     name_ = ngx_null_string;
    ngx_sockaddr_t                sockaddr_;
    socklen_t                     socklen_ = 0;
    bool                          subscribed_ = false;
    ngx_log_t                    *log_;
    ngx_log_t                     conn_log_;   // the connection's: see log_writer
    char                          last_error_[256];
    redisAsyncContext             handle_;     // what callbacks get: see of()
    ngx_peer_connection_t         peer_;
    ngx_connection_t             *c_ = nullptr;
    redisReader                  *reader_ = nullptr;
    bool                          transport_up_ = false;   // TCP connected
    bool                          replied_ = false;        // a reply came on this connection
    ngx_uint_t                    generation_ = 0;         // one more per connection closed
    char                         *out_ = nullptr;          // commands not yet written
    size_t                        out_len_ = 0;
    size_t                        out_sent_ = 0;
    size_t                        out_capacity_ = 0;
    CallbackQueue                 callbacks_;
    State                         state_ = State::kIdle;
    ngx_msec_t                    backoff_ = 0;
    ngx_uint_t                    outstanding_ = 0;
    ngx_msec_t                    last_progress_ = 0;
    ngx_event_t                   reconnect_ev_;
    ngx_event_t                   connect_timeout_ev_;
    bool                          connected_once_ = false;
    bool                          started_ = false;
    bool                          parked_ = false;
};

}  // namespace apikey
