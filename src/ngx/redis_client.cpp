#include "redis_client.hpp"
#include "guard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "admin_script.hpp"
#include "check_script.hpp"
#include "metrics.hpp"
#include "topology_reply.hpp"

namespace apikey {

namespace {

// backoff_ is reset only by a successful connection setup, so a server that
// accepts and at once closes (maxclients, a proxy without a backend) is
// retried with growing pauses too, never in a tight loop
constexpr ngx_msec_t kFirstBackoff = 50;
constexpr ngx_msec_t kMaxBackoff = 500;
constexpr ngx_msec_t kSubscribeDeadline = 1000;

// one read's worth; the socket is read until it is empty (edge-triggered
// events, and TLS keeps decrypted bytes of its own)
constexpr size_t kReadSize = 16384;

RedisClient *client_of(const redisAsyncContext *ac) {
    return RedisClient::of(ac);
}

bool
is_subscribe(const char *cmd, size_t len) noexcept
{
    // "*N\r\n$9\r\nSUBSCRIBE\r\n": only the module's own commands come here
    static const char  prefix[] = "$9\r\nSUBSCRIBE\r\n";
    const char        *p = static_cast<const char *>(memchr(cmd, '\n', len));

    return p != nullptr && static_cast<size_t>(cmd + len - (p + 1)) >= sizeof(prefix) - 1
           && ngx_strncasecmp(reinterpret_cast<u_char *>(const_cast<char *>(p + 1)),
                              reinterpret_cast<u_char *>(const_cast<char *>(prefix)),
                              sizeof(prefix) - 1) == 0;
}

}  // namespace


bool
RedisClient::CallbackQueue::push(const Callback &cb) noexcept
{
    if (head + count == capacity) {
        if (head > 0) {
            ngx_memmove(items, items + head, count * sizeof(Callback));
            head = 0;
        } else {
            size_t n = capacity ? capacity * 2 : 16;
            auto *grown = static_cast<Callback *>(ngx_alloc(n * sizeof(Callback), ngx_cycle->log));
            if (grown == nullptr) {
                return false;
            }
            if (count) {
                ngx_memcpy(grown, items, count * sizeof(Callback));
            }
            ngx_free(items);
            items = grown;
            capacity = n;
        }
    }
    items[head + count++] = cb;
    return true;
}


void
RedisClient::CallbackQueue::pop() noexcept
{
    head++;
    if (--count == 0) {
        head = 0;
    }
}


void
RedisClient::CallbackQueue::release() noexcept
{
    ngx_free(items);
    *this = CallbackQueue();
}


RedisClient::RedisClient(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log, Role role,
                         Listener *listener) noexcept
    : conf_(conf), role_(role), listener_(listener), log_(log)
{
    ngx_http_apikey_init_timer(&reconnect_ev_, ngx_http_apikey_guard<on_reconnect_timer>, this,
                               log);
    ngx_http_apikey_init_timer(&connect_timeout_ev_, ngx_http_apikey_guard<on_connect_timeout>,
                               this, log);

    ngx_memzero(&handle_, sizeof(handle_));
    handle_.data = this;

    // The connection's own log: what nginx says about it (connect() failed,
    // recv() failed, SSL_do_handshake() failed, ...) is kept, not written, and
    // the module writes it once, rate-limited, as the reason in its own line.
    // A dead Redis then costs one line a second, not one per reconnect.
    ngx_memzero(&conn_log_, sizeof(conn_log_));
    conn_log_.file = log->file;
    conn_log_.log_level = NGX_LOG_ERR;
    conn_log_.writer = ngx_http_apikey_guard<log_writer>;
    conn_log_.wdata = this;
    last_error_[0] = '\0';
}


RedisClient::~RedisClient()
{
    state_ = State::kClosed;

    if (reconnect_ev_.timer_set) {
        ngx_del_timer(&reconnect_ev_);
    }

    if (connect_timeout_ev_.timer_set) {
        ngx_del_timer(&connect_timeout_ev_);
    }

    if (c_ != nullptr) {
        fail_pending(this, close_connection());   // pending callbacks run with a NULL reply
    }

    callbacks_.release();
    ngx_free(out_);
}


void
RedisClient::log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    auto *self = static_cast<RedisClient *>(log->wdata);

    // "2026/01/01 00:00:00 [error] 12#12: *3 connect() to ... failed (111: ...)\n":
    // keep what follows the pid and the connection number
    u_char *p = ngx_strlcasestrn(buf, buf + len, reinterpret_cast<u_char *>(const_cast<char *>("]")), 0);
    if (p != nullptr) {
        u_char *colon = static_cast<u_char *>(memchr(p, ':', buf + len - p));
        if (colon != nullptr && colon + 2 <= buf + len) {
            p = colon + 2;
            if (*p == '*') {
                u_char *space = static_cast<u_char *>(memchr(p, ' ', buf + len - p));
                p = space != nullptr ? space + 1 : p;
            }
        }
    }
    if (p == nullptr) {
        p = buf;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    size_t n = buf + len > p ? ngx_min(static_cast<size_t>(buf + len - p),
                                       sizeof(self->last_error_) - 1) : 0;
    ngx_memcpy(self->last_error_, p, n);
    self->last_error_[n] = '\0';
}


const char *
RedisClient::last_error() noexcept
{
    return last_error_[0] ? last_error_ : "closed";
}


bool
RedisClient::set_address() noexcept
{
    ngx_memzero(&sockaddr_, sizeof(sockaddr_));
    socklen_ = 0;

    if (port_ == 0) {
        if (host_.size() >= sizeof(sockaddr_.sockaddr_un.sun_path)) {
            return false;
        }
        sockaddr_.sockaddr_un.sun_family = AF_UNIX;
        ngx_memcpy(sockaddr_.sockaddr_un.sun_path, host_.data(), host_.size());
        socklen_ = sizeof(struct sockaddr_un);
        return true;
    }

    if (inet_pton(AF_INET, host_.c_str(), &sockaddr_.sockaddr_in.sin_addr) == 1) {
        sockaddr_.sockaddr_in.sin_family = AF_INET;
        sockaddr_.sockaddr_in.sin_port = htons(static_cast<in_port_t>(port_));
        socklen_ = sizeof(struct sockaddr_in);
        return true;
    }

#if (NGX_HAVE_INET6)
    if (inet_pton(AF_INET6, host_.c_str(), &sockaddr_.sockaddr_in6.sin6_addr) == 1) {
        sockaddr_.sockaddr_in6.sin6_family = AF_INET6;
        sockaddr_.sockaddr_in6.sin6_port = htons(static_cast<in_port_t>(port_));
        socklen_ = sizeof(struct sockaddr_in6);
        return true;
    }
#endif

    return false;   // the module resolves every address at load time: numeric only
}


void
RedisClient::set_target(const std::string &host, int port, bool at_once) noexcept
{
    if (host == host_ && port == port_) {
        return;
    }

    try {
        host_ = host;
        port_ = port;
        if (port == 0) {
            name_text_ = "unix:" + host;
        } else if (host.find(':') != std::string::npos) {
            name_text_ = "[" + host + "]:" + std::to_string(port);
        } else {
            name_text_ = host + ":" + std::to_string(port);
        }
    } catch (...) {
        host_.clear();   // out of memory: no target rather than a wrong one
        name_text_.clear();
    }
    name_.data = reinterpret_cast<u_char *>(name_text_.data());
    name_.len = name_text_.size();
    if (!host_.empty() && !set_address()) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "apikey: invalid redis address \"%V\"", &name_);
        host_.clear();
    }

    if (!started_ || state_ == State::kClosed) {
        return;
    }

    if (c_ != nullptr) {
        // the old server is no longer where the data is: its pending commands
        // fail now rather than at their timeout
        drop("the server moved", NGX_LOG_NOTICE);
    }

    if (at_once) {
        backoff_ = 0;
        if (reconnect_ev_.timer_set) {
            ngx_del_timer(&reconnect_ev_);
        }
        if (c_ == nullptr) {
            connect();   // now: checks may be waiting for this server
            return;
        }
    }

    if (!reconnect_ev_.timer_set) {
        schedule_reconnect(false);
    }
}


void
RedisClient::start() noexcept
{
    started_ = true;
    connect();
}


void
RedisClient::park() noexcept
{
    // a connection that works stays: checks may be waiting on it (sent after
    // an ASK, or before the first map)
    parked_ = true;

    if (c_ == nullptr && state_ != State::kClosed) {
        if (reconnect_ev_.timer_set) {
            ngx_del_timer(&reconnect_ev_);
        }
        state_ = State::kIdle;   // usable() connects again on demand
    }
}


void
RedisClient::restart() noexcept
{
    if (state_ == State::kClosed) {
        return;
    }

    if (c_ != nullptr) {
        drop("asking again", NGX_LOG_INFO);
    }

    // at once, whatever the backoff: the caller has rate-limited this
    if (reconnect_ev_.timer_set) {
        ngx_del_timer(&reconnect_ev_);
    }
    state_ = State::kBackoff;
    ngx_add_timer(&reconnect_ev_, 1);
}


void
RedisClient::connect() noexcept
{
    ngx_int_t  rc;

    if (host_.empty()) {
        state_ = State::kIdle;   // not known yet (a sentinel or the slot map will say)
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log_, 0, "apikey: connecting to redis at \"%V\"", &name_);

    if (connected_once_) {
        ngx_http_apikey_count(reconnects, 1);
    }
    connected_once_ = true;
    last_error_[0] = '\0';

    reader_ = redisReaderCreate();
    if (reader_ == nullptr) {
        ngx_log_error(NGX_LOG_ALERT, log_, 0, "apikey: cannot allocate a redis reply reader");
        schedule_reconnect();
        return;
    }

    ngx_memzero(&peer_, sizeof(peer_));
    peer_.sockaddr = &sockaddr_.sockaddr;
    peer_.socklen = socklen_;
    peer_.name = &name_;
    peer_.get = ngx_event_get_peer;
    peer_.log = &conn_log_;
    peer_.log_error = NGX_ERROR_ERR;

    // non-blocking: NGX_AGAIN while the connect is in flight
    rc = ngx_event_connect_peer(&peer_);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED || peer_.connection == nullptr) {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: cannot connect to redis at \"%V\": %s",
                                    &name_, last_error());
        redisReaderFree(reader_);
        reader_ = nullptr;
        schedule_reconnect();
        return;
    }

    c_ = peer_.connection;
    c_->data = this;

    if (port_ != 0) {
        // small pipelined commands must not wait for the ACK of the previous
        // write (Nagle), as hiredis's sockets did not
        int nodelay = 1;
        if (setsockopt(c_->fd, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const void *>(&nodelay),
                       sizeof(int)) == -1)
        {
            ngx_log_error(NGX_LOG_WARN, log_, ngx_socket_errno,
                          "apikey: setsockopt(TCP_NODELAY) failed for redis at \"%V\"", &name_);
        }
    }
    c_->read->handler = ngx_http_apikey_guard<on_read>;
    c_->write->handler = ngx_http_apikey_guard<on_write>;
    // the events log where the guard and the event module report, the
    // connection (c->log) where nginx's I/O functions say why they failed
    c_->read->log = log_;
    c_->write->log = log_;
    c_->log_error = NGX_ERROR_ERR;
    transport_up_ = false;
    replied_ = false;

    state_ = State::kConnecting;
    outstanding_ = 0;

    // commands wait in out_ until the connection is ready, so setup and the
    // first requests' checks all leave in the first write
    queue_setup();

    ngx_add_timer(&connect_timeout_ev_, conf_->connect_timeout);

    if (rc == NGX_OK) {
        transport_up();   // a unix socket, usually
    }
}


void
RedisClient::queue_setup() noexcept
{
    if (role_ == Role::kSentinel) {
        // sentinels have their own password (sentinel_password=), if any:
        // apikey_redis's password= is the data nodes'
        if (conf_->sentinel_password.len) {
            const char *argv[] = {"AUTH",
                                  reinterpret_cast<const char *>(conf_->sentinel_password.data)};
            size_t lens[] = {4, conf_->sentinel_password.len};
            send(2, argv, lens, ngx_http_apikey_guard<on_setup_reply>, nullptr);
        }

        const char *ask[] = {"SENTINEL", "get-master-addr-by-name",
                             reinterpret_cast<const char *>(conf_->master_name.data)};
        size_t ask_lens[] = {8, 23, conf_->master_name.len};
        send(3, ask, ask_lens, ngx_http_apikey_guard<on_master_address>, this);

        const char *sub[] = {"SUBSCRIBE", "+switch-master"};
        size_t sub_lens[] = {9, 14};
        send(2, sub, sub_lens, ngx_http_apikey_guard<on_message>, this);
        return;
    }

    if (conf_->password.len && conf_->user.len) {
        // a Redis 6 ACL user (user=)
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(conf_->user.data),
                              reinterpret_cast<const char *>(conf_->password.data)};
        size_t lens[] = {4, conf_->user.len, conf_->password.len};
        send(3, argv, lens, ngx_http_apikey_guard<on_setup_reply>, nullptr);

    } else if (conf_->password.len) {
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(conf_->password.data)};
        size_t lens[] = {4, conf_->password.len};
        send(2, argv, lens, ngx_http_apikey_guard<on_setup_reply>, nullptr);
    }

    if (role_ == Role::kSubscriber) {
        // channels are not per database: no SELECT
        std::string channel(reinterpret_cast<const char *>(conf_->prefix.data),
                            conf_->prefix.len);
        channel += "invalidate";
        const char *argv[] = {"SUBSCRIBE", channel.c_str()};
        size_t lens[] = {9, channel.size()};
        send(2, argv, lens, ngx_http_apikey_guard<on_message>, this);
        return;
    }

    if (conf_->db) {
        char db[NGX_INT_T_LEN];
        u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(db), "%i", conf_->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, static_cast<size_t>(end - reinterpret_cast<u_char *>(db))};
        send(2, argv, lens, ngx_http_apikey_guard<on_setup_reply>, nullptr);
    }

    load_script();
}


void
RedisClient::load_script() noexcept
{
    for (std::string_view script : {kCheckScript, kAdminScript}) {
        const char *argv[] = {"SCRIPT", "LOAD", script.data()};
        size_t lens[] = {6, 4, script.size()};
        send(3, argv, lens, ngx_http_apikey_guard<on_setup_reply>, nullptr);
    }
}


bool
RedisClient::usable() noexcept
{
    switch (state_) {
    case State::kIdle:
        parked_ = false;
        connect();
        return state_ == State::kConnecting || state_ == State::kReady;
    case State::kConnecting:
    case State::kReady:
        return true;
    case State::kBackoff:
    case State::kClosed:
        break;
    }
    return false;
}


void
RedisClient::note_sent() noexcept
{
    if (outstanding_++ == 0) {
        last_progress_ = ngx_current_msec;
    }
}


// Appends a command in RESP to what goes out next, with its callback.
bool
RedisClient::enqueue(const char *cmd, size_t len, const Callback &cb) noexcept
{
    if (out_len_ + len > out_capacity_) {
        if (out_sent_) {
            // what was written already makes room
            ngx_memmove(out_, out_ + out_sent_, out_len_ - out_sent_);
            out_len_ -= out_sent_;
            out_sent_ = 0;
        }
        if (out_len_ + len > out_capacity_) {
            size_t n = ngx_max(out_capacity_ * 2, out_len_ + len);
            n = ngx_max(n, static_cast<size_t>(4096));
            char *grown = static_cast<char *>(ngx_alloc(n, log_));
            if (grown == nullptr) {
                return false;
            }
            if (out_len_) {
                ngx_memcpy(grown, out_, out_len_);
            }
            ngx_free(out_);
            out_ = grown;
            out_capacity_ = n;
        }
    }

    if (!callbacks_.push(cb)) {
        return false;
    }

    bool was_empty = out_len_ == out_sent_;
    ngx_memcpy(out_ + out_len_, cmd, len);
    out_len_ += len;

    // written at the start of the event loop's next pass (which then does
    // not wait: nginx polls with a zero timeout while such events are
    // queued), so the commands of every request that arrived meanwhile leave
    // in one write, as with hiredis's adapter, whose write event fired on the
    // next pass
    if (was_empty && state_ == State::kReady && c_ != nullptr && !c_->write->posted) {
#if (nginx_version >= 1017005)
        ngx_post_event(c_->write, &ngx_posted_next_events);
#else
        ngx_post_event(c_->write, &ngx_posted_events);
#endif
    }
    return true;
}


bool
RedisClient::send(int argc, const char **argv, const size_t *argvlen,
                  redisCallbackFn *fn, void *privdata) noexcept
{
    char  *cmd = nullptr;

    if (!usable()) {
        return false;
    }

    long long len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0 || cmd == nullptr) {
        return false;
    }

    bool ok = enqueue(cmd, static_cast<size_t>(len),
                      Callback{fn, privdata, is_subscribe(cmd, static_cast<size_t>(len))});
    redisFreeCommand(cmd);

    if (ok) {
        note_sent();
    }
    return ok;
}


bool
RedisClient::send_formatted(const ngx_str_t &command, redisCallbackFn *fn, void *privdata) noexcept
{
    if (!usable()
        || !enqueue(reinterpret_cast<const char *>(command.data), command.len,
                    Callback{fn, privdata, false}))
    {
        return false;
    }

    note_sent();
    return true;
}


void
RedisClient::note_reply() noexcept
{
    if (outstanding_) {
        outstanding_--;
    }
    last_progress_ = ngx_current_msec;
}


void
RedisClient::note_timeout(ngx_msec_t timeout) noexcept
{
    if (c_ != nullptr && outstanding_ && ngx_current_msec - last_progress_ >= timeout) {
        drop("redis stopped answering");
    }
}


RedisClient::CallbackQueue
RedisClient::close_connection() noexcept
{
    CallbackQueue  pending = callbacks_;

    callbacks_ = CallbackQueue();
    out_len_ = 0;
    out_sent_ = 0;
    subscribed_ = false;
    outstanding_ = 0;
    transport_up_ = false;
    generation_++;

    if (connect_timeout_ev_.timer_set) {
        ngx_del_timer(&connect_timeout_ev_);
    }

    if (reader_ != nullptr) {
        redisReaderFree(reader_);
        reader_ = nullptr;
    }

    ngx_connection_t *c = c_;
    c_ = nullptr;

    if (c != nullptr) {
#if (NGX_SSL)
        if (c->ssl) {
            // a quiet shutdown: the server may be gone, and a close_notify
            // that cannot be written at once would leave SSL_shutdown()
            // waiting (NGX_AGAIN) on a connection closed right below
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_pool_t *pool = c->pool;
        ngx_close_connection(c);   // nginx made the socket: nginx closes it
        if (pool != nullptr) {
            ngx_destroy_pool(pool);
        }
    }

    return pending;
}


// The line just logged says why the connection went; the commands that fail
// with it would each add "no reply (connection lost)" (check_reply.cpp, admin.cpp),
// which says nothing more. So a bad certificate or a dead server is one line
// a second, not two: this second's reply-error line is taken.
void
RedisClient::quiet_pending(const CallbackQueue &pending) noexcept
{
    if (pending.count) {
        (void) ngx_http_apikey_log_allowed(NGX_HTTP_APIKEY_LOG_REPLY);
    }
}


// Every command still waiting gets its callback with a NULL reply, as
// hiredis did when a connection went: requests fail (or retry) at once.
void
RedisClient::fail_pending(RedisClient *self, CallbackQueue pending) noexcept
{
    while (Callback *cb = pending.front()) {
        Callback call = *cb;
        pending.pop();
        call.fn(&self->handle_, nullptr, call.privdata);
    }
    pending.release();
}


void
RedisClient::drop(const char *reason, ngx_uint_t level) noexcept
{
    if (c_ == nullptr) {
        return;
    }

    if (level == NGX_LOG_ERR) {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: closing the redis connection to \"%V\": %s",
                                    &name_, reason);
    } else {
        ngx_log_error(level, log_, 0, "apikey: closing the redis connection to \"%V\": %s",
                      &name_, reason);
    }

    // closed first: the callbacks that run now must see a client that no
    // longer has this connection
    CallbackQueue pending = close_connection();
    if (level == NGX_LOG_ERR) {
        quiet_pending(pending);
    }
    state_ = State::kIdle;
    fail_pending(this, pending);

    if (level == NGX_LOG_ERR) {
        schedule_reconnect();
    }
}


// The connection failed on its own (refused, reset, closed by the server, a
// bad certificate): one line, a reconnect with backoff, and its commands fail.
void
RedisClient::fail(const char *what) noexcept
{
    bool connecting = state_ == State::kConnecting;

    if (connecting) {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: cannot connect to redis at \"%V\": %s",
                                    &name_, what);
    } else if (conf_->tls != nullptr && !replied_) {
        // TLS 1.3: a server that refuses the client's certificate (or its
        // absence) says so only after the client has finished its handshake,
        // so this is where a missing or untrusted tls_cert= shows
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: lost the redis connection to \"%V\": %s, before any "
                                    "reply: does the server want a client certificate it "
                                    "trusts (%s)?", &name_, what,
                                    conf_->tls->cert.len ? "tls_cert= is not one"
                                                         : "tls_cert= is not given");
    } else {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: lost the redis connection to \"%V\": %s",
                                    &name_, what);
    }

    CallbackQueue pending = close_connection();
    quiet_pending(pending);
    // not usable while its callbacks run: a retry goes elsewhere or fails
    state_ = State::kBackoff;
    fail_pending(this, pending);
    if (c_ == nullptr && state_ == State::kBackoff) {
        state_ = State::kIdle;
        schedule_reconnect();
    }
}


void
RedisClient::schedule_reconnect(bool failed) noexcept
{
    ngx_msec_t  delay;

    if (state_ == State::kClosed) {
        return;
    }

    if (parked_) {
        state_ = State::kIdle;   // not needed: connect again only on demand
        return;
    }

    // the first attempt after a healthy connection goes out at once; each
    // failure before the next healthy one doubles the wait
    delay = backoff_ ? backoff_ : 1;
    backoff_ = backoff_ ? ngx_min(backoff_ * 2, kMaxBackoff) : kFirstBackoff;

    state_ = State::kBackoff;
    if (!reconnect_ev_.timer_set) {
        ngx_add_timer(&reconnect_ev_, delay);
    }

    // last: the listener may move this client to another server
    if (failed && listener_ != nullptr) {
        listener_->on_down(*this);
    }
}


// The TCP connect finished (or failed: the socket says which).
void
RedisClient::transport_up() noexcept
{
    int        err = 0;
    socklen_t  len = sizeof(int);

    if (getsockopt(c_->fd, SOL_SOCKET, SO_ERROR, reinterpret_cast<void *>(&err), &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        u_char  text[NGX_MAX_ERROR_STR];
        u_char *end = ngx_strerror(err, text, sizeof(text) - 1);
        *end = '\0';
        fail(reinterpret_cast<const char *>(text));
        return;
    }

    transport_up_ = true;

#if (NGX_SSL)
    if (conf_->tls != nullptr) {
        start_tls();
        return;
    }
#endif

    established();
}


#if (NGX_SSL)

void
RedisClient::start_tls() noexcept
{
    ngx_http_apikey_tls_t  *tls = conf_->tls;

    // ngx_ssl_create_connection() allocates from the connection's pool,
    // which an outgoing connection does not have until we give it one
    c_->pool = ngx_create_pool(1024, &conn_log_);
    if (c_->pool == nullptr
        || ngx_ssl_create_connection(&tls->ssl, c_, NGX_SSL_CLIENT) != NGX_OK)
    {
        fail("cannot set up TLS");
        return;
    }

    SSL *ssl = c_->ssl->connection;

    // SNI: a name, never an address (RFC 6066, 3)
    if (tls->name.len) {
        if (SSL_set_tlsext_host_name(ssl, reinterpret_cast<char *>(tls->name.data)) == 0) {
            fail("cannot set the TLS server name");
            return;
        }
    }

    if (tls->verify) {
        // the name the certificate must carry: tls_name=, else the address
        // connected to (an IP address SAN). OpenSSL checks it with the chain,
        // so one verify result says whether the server is the one meant.
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        int ok = 1;
        if (tls->name.len) {
            ok = X509_VERIFY_PARAM_set1_host(param, reinterpret_cast<char *>(tls->name.data),
                                             tls->name.len);
        } else if (port_ != 0) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str());
        }
        if (ok != 1) {
            fail("cannot set the name to verify");
            return;
        }
    }

    ngx_int_t rc = ngx_ssl_handshake(c_);

    if (rc == NGX_AGAIN) {
        // the handshake goes on in nginx's event loop; connect_timeout_ev_
        // bounds it like the connect
        c_->ssl->handler = ngx_http_apikey_guard<on_handshake>;
        return;
    }

    on_handshake(c_);
}


void
RedisClient::on_handshake(ngx_connection_t *c)
{
    auto  *self = static_cast<RedisClient *>(c->data);

    if (!c->ssl->handshaked) {
        // nginx's own line ("SSL_do_handshake() failed (SSL: ...)") was kept
        // by log_writer: it is the reason
        char what[sizeof(self->last_error_) + 32];
        ngx_snprintf(reinterpret_cast<u_char *>(what), sizeof(what) - 1, "TLS handshake failed: %s%Z",
                     self->last_error());
        what[sizeof(what) - 1] = '\0';
        self->fail(what);
        return;
    }

    c->read->handler = ngx_http_apikey_guard<on_read>;
    c->write->handler = ngx_http_apikey_guard<on_write>;

    if (self->conf_->tls->verify) {
        X509 *cert = SSL_get_peer_certificate(c->ssl->connection);
        long  rc = SSL_get_verify_result(c->ssl->connection);
        if (cert != nullptr) {
            X509_free(cert);
        }

        if (cert == nullptr || rc != X509_V_OK) {
            char what[256];
            ngx_snprintf(reinterpret_cast<u_char *>(what), sizeof(what) - 1,
                         "its TLS certificate is not trusted (%s)%Z",
                         cert == nullptr ? "none presented" : X509_verify_cert_error_string(rc));
            what[sizeof(what) - 1] = '\0';
            self->fail(what);
            return;
        }
    }

    self->established();
}

#endif


void
RedisClient::established() noexcept
{
    if (connect_timeout_ev_.timer_set) {
        ngx_del_timer(&connect_timeout_ev_);
    }

    state_ = State::kReady;
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log_, 0,
                   "apikey: connected to redis at \"%V\"", &name_);

    // a refused SUBSCRIBE may never be answered in a way we recognise: give
    // the confirmation a deadline, and start over without it
    if (subscribes()) {
        ngx_add_timer(&connect_timeout_ev_, kSubscribeDeadline);
    }

    ngx_uint_t generation = generation_;
    flush();
    if (generation == generation_ && c_ != nullptr && c_->read->ready) {
        read_replies();
    }
}


void
RedisClient::flush() noexcept
{
    while (out_sent_ < out_len_) {
        ssize_t n = c_->send(c_, reinterpret_cast<u_char *>(out_ + out_sent_),
                             out_len_ - out_sent_);

        if (n > 0) {
            out_sent_ += static_cast<size_t>(n);
            continue;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c_->write, 0) != NGX_OK) {
                fail("cannot watch the socket");
            }
            return;
        }

        fail(last_error());
        return;
    }

    out_len_ = 0;
    out_sent_ = 0;
}


void
RedisClient::read_replies() noexcept
{
    u_char      buf[kReadSize];
    ngx_uint_t  generation = generation_;

    // until the socket is empty: events are edge-triggered, and TLS may hold
    // decrypted bytes that no further event announces. c->recv() clears
    // read->ready when it has taken all there is (a short read; for TLS, when
    // SSL_read() wants more from the socket), which saves the last recv()
    // that would only say EAGAIN.
    for (;;) {
        if (!c_->read->ready) {
            if (ngx_handle_read_event(c_->read, 0) != NGX_OK) {
                fail("cannot watch the socket");
            }
            return;
        }

        ssize_t n = c_->recv(c_, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c_->read, 0) != NGX_OK) {
                fail("cannot watch the socket");
            }
            return;
        }

        if (n == 0) {
            fail("closed");
            return;
        }

        if (n < 0) {
            fail(last_error());
            return;
        }

        if (redisReaderFeed(reader_, reinterpret_cast<const char *>(buf),
                            static_cast<size_t>(n)) != REDIS_OK
            || !dispatch() || generation != generation_)
        {
            return;
        }
    }
}


// Hands every complete reply to its command's callback, in order.
bool
RedisClient::dispatch() noexcept
{
    ngx_uint_t  generation = generation_;

    for (;;) {
        void *reply = nullptr;

        if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
            char what[160];
            ngx_snprintf(reinterpret_cast<u_char *>(what), sizeof(what) - 1,
                         "protocol error: %s%Z", reader_->errstr);
            what[sizeof(what) - 1] = '\0';
            drop(what);
            return false;
        }

        if (reply == nullptr) {
            return true;
        }

        Callback *cb = callbacks_.front();

        if (cb == nullptr) {
            // nothing asked for this (a server that talks out of turn)
            freeReplyObject(reply);
            drop("an unexpected reply");
            return false;
        }

        Callback call = *cb;
        auto *r = static_cast<redisReply *>(reply);
        replied_ = true;

        // SUBSCRIBE's callback stays for the messages that follow, unless the
        // subscription was refused
        if (!call.subscribe || r->type == REDIS_REPLY_ERROR) {
            callbacks_.pop();
        }

        call.fn(&handle_, reply, call.privdata);
        freeReplyObject(reply);

        if (generation != generation_) {
            return false;   // the callback closed the connection
        }
    }
}


void
RedisClient::on_read(ngx_event_t *ev)
{
    auto  *c = static_cast<ngx_connection_t *>(ev->data);
    auto  *self = static_cast<RedisClient *>(c->data);

    if (!self->transport_up_) {
        self->transport_up();   // a refused connect shows as readable too
        return;
    }

    self->read_replies();
}


void
RedisClient::on_write(ngx_event_t *ev)
{
    auto  *c = static_cast<ngx_connection_t *>(ev->data);
    auto  *self = static_cast<RedisClient *>(c->data);

    if (!self->transport_up_) {
        self->transport_up();
        return;
    }

    if (self->state_ == State::kReady) {
        self->flush();
    }
}


void
RedisClient::on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    RedisClient  *self = client_of(ac);
    redisReply   *reply = static_cast<redisReply *>(r);

    self->note_reply();

    if (reply == nullptr) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR, self->log_, 0,
                                    "apikey: redis at \"%V\" refused the connection setup: %*s",
                                    &self->name_, reply->len, reply->str);
        return;
    }

    // the connection has proved itself: a later failure starts backing off
    // afresh. Not a sentinel's: only naming the master proves it, or one that
    // accepts AUTH but knows no such master would be asked again every 1 ms.
    if (self->role_ != Role::kSentinel) {
        self->backoff_ = 0;
    }
}


void
RedisClient::on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    RedisClient  *self = static_cast<RedisClient *>(privdata);
    redisReply   *reply = static_cast<redisReply *>(r);

    if (reply == nullptr) {
        self->subscribed_ = false;   // the connection is gone
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR, self->log_, 0,
                                    "apikey: redis at \"%V\" refused the subscription: %*s",
                                    &self->name_, reply->len, reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    std::string_view kind(reply->element[0]->str, reply->element[0]->len);

    if (kind == "subscribe") {
        self->subscribed_ = true;
        self->backoff_ = 0;
        if (self->connect_timeout_ev_.timer_set) {
            ngx_del_timer(&self->connect_timeout_ev_);
        }
        if (self->on_subscribed) {
            self->on_subscribed();
        }
        return;
    }

    if (kind != "message" || reply->element[2]->type != REDIS_REPLY_STRING) {
        return;
    }

    std::string_view text(reply->element[2]->str, reply->element[2]->len);

    if (self->role_ == Role::kSentinel) {
        std::optional<MasterSwitch> s;
        try {
            s = parse_switch_master(text);
        } catch (...) {
            return;
        }
        if (s && s->name == std::string_view(reinterpret_cast<const char *>(
                                                  self->conf_->master_name.data),
                                              self->conf_->master_name.len)
            && self->listener_ != nullptr)
        {
            ngx_log_error(NGX_LOG_NOTICE, self->log_, 0,
                          "apikey: sentinel at \"%V\" announced a new master for \"%V\"",
                          &self->name_, &self->conf_->master_name);
            self->listener_->on_master(*self, s->to);
        }
        return;
    }

    if (self->on_invalidation) {
        self->on_invalidation(text);
    }
}


// kSentinel: the answer to SENTINEL get-master-addr-by-name.
void
RedisClient::on_master_address(redisAsyncContext *ac, void *r, void *privdata)
{
    RedisClient  *self = static_cast<RedisClient *>(privdata);
    redisReply   *reply = static_cast<redisReply *>(r);

    self->note_reply();

    if (reply == nullptr) {
        return;   // the connection went
    }

    std::optional<HostPort> master;
    try {
        master = decode_master_address(reply);
    } catch (...) {
    }

    if (!master && reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_log_limited(self->log_kind(), NGX_LOG_ERR, self->log_, 0,
                                    "apikey: sentinel at \"%V\" refused to name the master: %*s",
                                    &self->name_, reply->len, reply->str);
    } else if (!master) {
        ngx_http_apikey_log_limited(self->log_kind(), NGX_LOG_ERR, self->log_, 0,
                                    "apikey: sentinel at \"%V\" does not know the master \"%V\"",
                                    &self->name_, &self->conf_->master_name);
    }

    if (!master) {
        self->drop("no master named");   // the listener asks another sentinel
        return;
    }

    self->backoff_ = 0;
    if (self->listener_ != nullptr) {
        self->listener_->on_master(*self, *master);
    }
}


void
RedisClient::on_reconnect_timer(ngx_event_t *ev)
{
    RedisClient  *self = static_cast<RedisClient *>(ev->data);

    if (self->state_ != State::kBackoff || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    self->connect();
}


void
RedisClient::on_connect_timeout(ngx_event_t *ev)
{
    RedisClient  *self = static_cast<RedisClient *>(ev->data);

    if (self->state_ == State::kConnecting) {
        self->drop(self->transport_up_ ? "the TLS handshake timed out" : "connect timed out");
    } else if (self->role_ == Role::kSentinel && !self->subscribed_) {
        ngx_log_error(NGX_LOG_ERR, self->log_, 0,
                      "apikey: the subscription to +switch-master at sentinel \"%V\" was not "
                      "confirmed", &self->name_);
        self->drop("subscription not confirmed");
    } else if (self->role_ == Role::kSubscriber && !self->subscribed_) {
        // at most once per deadline, so no rate limit on this line
        ngx_log_error(NGX_LOG_ERR, self->log_, 0,
                      "apikey: the subscription to invalidations at \"%V\" was not confirmed "
                      "(ACL channel permissions?); apikey_cache is bypassed until it is",
                      &self->name_);
        self->drop("subscription not confirmed");
    }
}

}  // namespace apikey
