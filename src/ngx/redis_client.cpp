#include "redis_client.hpp"
#include "guard.hpp"

#include <new>
#include <optional>
#include <string>

#include "admin_script.hpp"
#include "check_script.hpp"
#include "metrics.hpp"
#include "redis_adapter.hpp"
#include "topology_reply.hpp"

namespace apikey {

namespace {

// backoff_ is reset only by a successful connection setup, so a server that
// accepts and at once closes (maxclients, a proxy without a backend) is
// retried with growing pauses too, never in a tight loop
constexpr ngx_msec_t kFirstBackoff = 50;
constexpr ngx_msec_t kMaxBackoff = 500;
constexpr ngx_msec_t kSubscribeDeadline = 1000;

RedisClient *client_of(const redisAsyncContext *ac) {
    return RedisClient::of(ac);
}

}  // namespace


RedisClient::RedisClient(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log, Role role,
                         Listener *listener) noexcept
    : conf_(conf), role_(role), listener_(listener), log_(log)
{
    ngx_http_apikey_init_timer(&reconnect_ev_, ngx_http_apikey_guard<on_reconnect_timer>, this, log);
    ngx_http_apikey_init_timer(&connect_timeout_ev_, ngx_http_apikey_guard<on_connect_timeout>, this, log);
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

    if (ac_ != nullptr) {
        redisAsyncContext *ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac);   // pending callbacks run with a NULL reply
    }
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

    if (!started_ || state_ == State::kClosed) {
        return;
    }

    if (ac_ != nullptr) {
        // the old server is no longer where the data is: its pending commands
        // fail now rather than at their timeout
        drop("the server moved", NGX_LOG_NOTICE);
    }

    if (at_once) {
        backoff_ = 0;
        if (reconnect_ev_.timer_set) {
            ngx_del_timer(&reconnect_ev_);
        }
        if (ac_ == nullptr) {
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

    if (ac_ == nullptr && state_ != State::kClosed) {
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

    if (ac_ != nullptr) {
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
    redisAsyncContext  *ac;

    if (host_.empty()) {
        state_ = State::kIdle;   // not known yet (a sentinel or the slot map will say)
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log_, 0, "apikey: connecting to redis at \"%V\"", &name_);

    if (connected_once_) {
        ngx_http_apikey_count(reconnects, 1);
    }
    connected_once_ = true;

    if (port_ == 0) {
        ac = redisAsyncConnectUnix(host_.c_str());
    } else {
        ac = redisAsyncConnect(host_.c_str(), port_);   // numeric: no DNS
    }

    if (ac == nullptr) {
        ngx_log_error(NGX_LOG_ALERT, log_, 0, "apikey: cannot allocate a redis context");
        schedule_reconnect();
        return;
    }

    if (ac->err) {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: cannot connect to redis at \"%V\": %s",
                                    &name_, ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }

    if (ngx_http_apikey_redis_attach(ac, log_) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log_, 0,
                      "apikey: no free connection for redis (worker_connections)");
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }

    ac->data = this;
    redisAsyncSetConnectCallback(ac, ngx_http_apikey_guard<on_connect>);
    redisAsyncSetDisconnectCallback(ac, ngx_http_apikey_guard<on_disconnect>);

    ac_ = ac;
    state_ = State::kConnecting;
    outstanding_ = 0;

    // hiredis buffers commands until the socket is connected, so setup and
    // the first requests' checks all leave in the first write
    queue_setup();

    ngx_add_timer(&connect_timeout_ev_, conf_->connect_timeout);
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

    if (conf_->password.len) {
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
        return state_ == State::kConnecting;
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


bool
RedisClient::send(int argc, const char **argv, const size_t *argvlen,
                  redisCallbackFn *fn, void *privdata) noexcept
{
    if (!usable() || redisAsyncCommandArgv(ac_, fn, privdata, argc, argv, argvlen) != REDIS_OK) {
        return false;
    }

    note_sent();
    return true;
}


bool
RedisClient::send_formatted(const ngx_str_t &command, redisCallbackFn *fn, void *privdata) noexcept
{
    if (!usable()
        || redisAsyncFormattedCommand(ac_, fn, privdata,
                                      reinterpret_cast<const char *>(command.data), command.len)
           != REDIS_OK)
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
    if (ac_ != nullptr && outstanding_ && ngx_current_msec - last_progress_ >= timeout) {
        drop("redis stopped answering");
    }
}


void
RedisClient::drop(const char *reason, ngx_uint_t level) noexcept
{
    redisAsyncContext  *ac = ac_;

    if (ac == nullptr) {
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

    if (connect_timeout_ev_.timer_set) {
        ngx_del_timer(&connect_timeout_ev_);
    }

    // forget it first: the callbacks that redisAsyncFree() runs must see a
    // client that no longer owns this context
    forget_context();
    state_ = State::kIdle;
    redisAsyncFree(ac);

    if (level == NGX_LOG_ERR) {
        schedule_reconnect();
    }
}


void
RedisClient::forget_context() noexcept
{
    ac_ = nullptr;
    subscribed_ = false;
    outstanding_ = 0;
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


void
RedisClient::on_connect(const redisAsyncContext *ac, int status)
{
    RedisClient  *self = client_of(ac);

    if (self->ac_ != ac) {
        return;
    }

    if (self->connect_timeout_ev_.timer_set) {
        ngx_del_timer(&self->connect_timeout_ev_);
    }

    if (status != REDIS_OK) {
        ngx_http_apikey_log_limited(self->log_kind(), NGX_LOG_ERR, self->log_, 0,
                                    "apikey: cannot connect to redis at \"%V\": %s",
                                    &self->name_, ac->errstr);
        // hiredis frees the context when this callback returns
        self->forget_context();
        self->schedule_reconnect();
        return;
    }

    self->state_ = State::kReady;
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, self->log_, 0,
                   "apikey: connected to redis at \"%V\"", &self->name_);

    // a refused SUBSCRIBE (ACL NOPERM) never reaches the callback in hiredis
    // 0.14: give the confirmation a deadline, and start over without it
    if (self->subscribes()) {
        ngx_add_timer(&self->connect_timeout_ev_, kSubscribeDeadline);
    }
}


void
RedisClient::on_disconnect(const redisAsyncContext *ac, int status)
{
    RedisClient  *self = client_of(ac);

    if (self->ac_ != ac) {
        return;   // we dropped it ourselves
    }

    self->forget_context();

    ngx_http_apikey_log_limited(self->log_kind(), NGX_LOG_ERR, self->log_, 0,
                                "apikey: lost the redis connection to \"%V\": %s",
                                &self->name_,
                                status == REDIS_OK ? "closed" : ac->errstr);

    self->schedule_reconnect();
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

    if (reply == nullptr || self->ac_ != ac) {
        return;
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
        self->drop("connect timed out");
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
