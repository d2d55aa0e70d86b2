#include "redis_client.hpp"

#include <new>
#include <string>

#include "admin_script.hpp"
#include "check_script.hpp"
#include "metrics.hpp"
#include "redis_adapter.hpp"

namespace apikey {

namespace {

// backoff_ is reset only by a successful connection setup, so a server that
// accepts and at once closes (maxclients, a proxy without a backend) is
// retried with growing pauses too, never in a tight loop
constexpr ngx_msec_t kFirstBackoff = 50;
constexpr ngx_msec_t kMaxBackoff = 500;
constexpr ngx_msec_t kSubscribeDeadline = 1000;

RedisClient *client_of(const redisAsyncContext *ac) {
    return static_cast<RedisClient *>(ac->data);
}

}  // namespace


RedisClient::RedisClient(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log, Role role) noexcept
    : conf_(conf), role_(role), log_(log)
{
    ngx_memzero(&reconnect_ev_, sizeof(ngx_event_t));
    reconnect_ev_.handler = on_reconnect_timer;
    reconnect_ev_.data = this;
    reconnect_ev_.log = log;
    reconnect_ev_.cancelable = 1;   // never keeps a shutting-down worker alive

    ngx_memzero(&connect_timeout_ev_, sizeof(ngx_event_t));
    connect_timeout_ev_.handler = on_connect_timeout;
    connect_timeout_ev_.data = this;
    connect_timeout_ev_.log = log;
    connect_timeout_ev_.cancelable = 1;
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
RedisClient::start() noexcept
{
    connect();
}


void
RedisClient::connect() noexcept
{
    redisAsyncContext  *ac;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log_, 0, "apikey: connecting to redis at \"%V\"",
                   &conf_->redis);

    if (connected_once_) {
        ngx_http_apikey_count(reconnects, 1);
    }
    connected_once_ = true;

    if (conf_->unix_path.len) {
        ac = redisAsyncConnectUnix(reinterpret_cast<const char *>(conf_->unix_path.data));
    } else {
        ac = redisAsyncConnect(reinterpret_cast<const char *>(conf_->host.data),
                               static_cast<int>(conf_->port));
    }

    if (ac == nullptr) {
        ngx_log_error(NGX_LOG_ALERT, log_, 0, "apikey: cannot allocate a redis context");
        schedule_reconnect();
        return;
    }

    if (ac->err) {
        ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                    "apikey: cannot connect to redis at \"%V\": %s",
                                    &conf_->redis, ac->errstr);
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
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

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
    if (conf_->password.len) {
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(conf_->password.data)};
        size_t lens[] = {4, conf_->password.len};
        send(2, argv, lens, on_setup_reply, nullptr);
    }

    if (role_ == Role::kSubscriber) {
        // channels are not per database: no SELECT
        std::string channel(reinterpret_cast<const char *>(conf_->prefix.data),
                            conf_->prefix.len);
        channel += "invalidate";
        const char *argv[] = {"SUBSCRIBE", channel.c_str()};
        size_t lens[] = {9, channel.size()};
        send(2, argv, lens, on_message, this);
        return;
    }

    if (conf_->db) {
        char db[NGX_INT_T_LEN];
        u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(db), "%i", conf_->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, static_cast<size_t>(end - reinterpret_cast<u_char *>(db))};
        send(2, argv, lens, on_setup_reply, nullptr);
    }

    load_script();
}


void
RedisClient::load_script() noexcept
{
    for (std::string_view script : {kCheckScript, kAdminScript}) {
        const char *argv[] = {"SCRIPT", "LOAD", script.data()};
        size_t lens[] = {6, 4, script.size()};
        send(3, argv, lens, on_setup_reply, nullptr);
    }
}


bool
RedisClient::usable() noexcept
{
    switch (state_) {
    case State::kIdle:
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
RedisClient::drop(const char *reason) noexcept
{
    redisAsyncContext  *ac = ac_;

    if (ac == nullptr) {
        return;
    }

    ngx_http_apikey_log_limited(log_kind(), NGX_LOG_ERR, log_, 0,
                                "apikey: closing the redis connection to \"%V\": %s",
                                &conf_->redis, reason);

    if (connect_timeout_ev_.timer_set) {
        ngx_del_timer(&connect_timeout_ev_);
    }

    // forget it first: the callbacks that redisAsyncFree() runs must see a
    // client that no longer owns this context
    ac_ = nullptr;
    subscribed_ = false;
    outstanding_ = 0;
    state_ = State::kIdle;
    redisAsyncFree(ac);

    schedule_reconnect();
}


void
RedisClient::schedule_reconnect() noexcept
{
    ngx_msec_t  delay;

    if (state_ == State::kClosed) {
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
                                    &self->conf_->redis, ac->errstr);
        // hiredis frees the context when this callback returns
        self->ac_ = nullptr;
        self->subscribed_ = false;
        self->outstanding_ = 0;
        self->schedule_reconnect();
        return;
    }

    self->state_ = State::kReady;
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, self->log_, 0,
                   "apikey: connected to redis at \"%V\"", &self->conf_->redis);

    // a refused SUBSCRIBE (ACL NOPERM) never reaches the callback in hiredis
    // 0.14: give the confirmation a deadline, and start over without it
    if (self->role_ == Role::kSubscriber) {
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

    self->ac_ = nullptr;
    self->outstanding_ = 0;
    self->subscribed_ = false;

    ngx_http_apikey_log_limited(self->log_kind(), NGX_LOG_ERR, self->log_, 0,
                                "apikey: lost the redis connection to \"%V\": %s",
                                &self->conf_->redis,
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
                                    &self->conf_->redis, reply->len, reply->str);
        return;
    }

    // the connection has proved itself: a later failure starts backing off afresh
    self->backoff_ = 0;
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
                                    &self->conf_->redis, reply->len, reply->str);
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

    if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING
        && self->on_invalidation)
    {
        self->on_invalidation(std::string_view(reply->element[2]->str, reply->element[2]->len));
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
    } else if (self->role_ == Role::kSubscriber && !self->subscribed_) {
        // at most once per deadline, so no rate limit on this line
        ngx_log_error(NGX_LOG_ERR, self->log_, 0,
                      "apikey: the subscription to invalidations at \"%V\" was not confirmed "
                      "(ACL channel permissions?); apikey_cache is bypassed until it is",
                      &self->conf_->redis);
        self->drop("subscription not confirmed");
    }
}

}  // namespace apikey
