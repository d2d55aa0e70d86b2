#include "redis_topology.hpp"
#include "guard.hpp"

#include <new>

#include "metrics.hpp"
#include "topology_reply.hpp"

namespace apikey {

RedisTopology::RedisTopology(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log) noexcept
    : conf_(conf), log_(log)
{
    ngx_http_apikey_init_timer(&refresh_ev_, ngx_http_apikey_guard<on_refresh_timer>, this, log);
}


RedisTopology::~RedisTopology()
{
    // the clients' pending callbacks run as they go: they must find no work
    closing_ = true;

    if (refresh_ev_.timer_set) {
        ngx_del_timer(&refresh_ev_);
    }

    delete subscriber_;
    delete sentinel_;
    delete commands_;
    for (RedisClient *n : nodes_) {
        delete n;
    }
}


HostPort
RedisTopology::seed(ngx_uint_t i) const
{
    auto *seeds = static_cast<ngx_http_apikey_seed_t *>(conf_->seeds->elts);
    const ngx_http_apikey_seed_t &s = seeds[i % conf_->seeds->nelts];
    return HostPort{std::string(reinterpret_cast<const char *>(s.host.data), s.host.len),
                    static_cast<int>(s.port)};
}


bool
RedisTopology::start(void (*on_subscribed)(), void (*on_invalidation)(std::string_view)) noexcept
{
    using Role = RedisClient::Role;

    try {
        switch (conf_->topology) {

        case NGX_HTTP_APIKEY_SINGLE:
            commands_ = new RedisClient(conf_, log_, Role::kCommands, this);
            if (conf_->unix_path.len) {
                commands_->set_target(reinterpret_cast<const char *>(conf_->unix_path.data), 0);
            } else {
                commands_->set_target(reinterpret_cast<const char *>(conf_->host.data),
                                      static_cast<int>(conf_->port));
            }
            break;

        case NGX_HTTP_APIKEY_SENTINEL: {
            // the command connection waits for the sentinel to name the master
            commands_ = new RedisClient(conf_, log_, Role::kCommands, this);
            sentinel_ = new RedisClient(conf_, log_, Role::kSentinel, this);
            HostPort first = seed(0);
            sentinel_->set_target(first.host, first.port);
            break;
        }

        case NGX_HTTP_APIKEY_CLUSTER:
            slots_.assign(kClusterSlots, 0);
            for (ngx_uint_t i = 0; i < conf_->seeds->nelts; i++) {
                node(seed(i));
            }
            break;
        }

        if (on_subscribed != nullptr) {
            subscriber_ = new RedisClient(conf_, log_, Role::kSubscriber, this);
            subscriber_->on_subscribed = on_subscribed;
            subscriber_->on_invalidation = on_invalidation;
            if (commands_ != nullptr && commands_->has_target()) {
                subscriber_->set_target(reinterpret_cast<const char *>(conf_->unix_path.len
                                                                       ? conf_->unix_path.data
                                                                       : conf_->host.data),
                                        conf_->unix_path.len ? 0 : static_cast<int>(conf_->port));
            } else if (cluster()) {
                // PUBLISH reaches every node of a cluster: any one will do
                HostPort first = seed(0);
                subscriber_->set_target(first.host, first.port);
            }
        }

    } catch (...) {
        return false;
    }

    // connect now, so the first request does not pay for it
    started_ = true;
    if (commands_ != nullptr) {
        commands_->start();
    }
    if (sentinel_ != nullptr) {
        sentinel_->start();
    }
    for (size_t i = 0; i < nodes_.size(); i++) {
        nodes_[i]->start();
    }
    if (subscriber_ != nullptr) {
        subscriber_->start();
    }
    if (cluster()) {
        refresh();
    }

    return true;
}


RedisClient *
RedisTopology::for_key(std::string_view key) noexcept
{
    return cluster() ? for_slot(key_slot(key)) : commands_;
}


RedisClient *
RedisTopology::for_slot(int slot) noexcept
{
    if (!cluster()) {
        return commands_;
    }

    uint16_t owner = slots_[slot];
    if (owner != 0) {
        return nodes_[owner - 1];
    }

    // no map yet: any node answers, with a MOVED if it must
    return any_ready_node();
}


std::vector<RedisClient *>
RedisTopology::key_holders() const
{
    std::vector<RedisClient *> holders;

    if (!cluster()) {
        if (commands_ != nullptr) {
            holders.push_back(commands_);
        }
        return holders;
    }

    for (size_t i = 0; i < nodes_.size() && i < serving_.size(); i++) {
        if (serving_[i]) {
            holders.push_back(nodes_[i]);
        }
    }
    return holders;
}


bool
RedisTopology::serves(const RedisClient &client) const noexcept
{
    for (size_t i = 0; i < nodes_.size() && i < serving_.size(); i++) {
        if (nodes_[i] == &client) {
            return serving_[i];
        }
    }
    return false;
}


uint16_t
RedisTopology::slot_owner(const RedisClient *n) const noexcept
{
    for (size_t i = 0; i < nodes_.size(); i++) {
        if (nodes_[i] == n) {
            return static_cast<uint16_t>(i + 1);
        }
    }
    return 0;
}


RedisClient *
RedisTopology::any_ready_node() noexcept
{
    for (size_t i = 0; i < nodes_.size(); i++) {
        RedisClient *n = nodes_[(next_ + i) % nodes_.size()];
        if (n->ready()) {
            return n;
        }
    }
    return nodes_.empty() ? nullptr : nodes_[next_++ % nodes_.size()];
}


RedisClient *
RedisTopology::node(const HostPort &hp) noexcept
{
    for (RedisClient *n : nodes_) {
        if (n->is_target(hp)) {
            return n;
        }
    }

    if (nodes_.size() >= kMaxNodes) {
        return nullptr;
    }

    RedisClient *n = nullptr;
    try {
        nodes_.reserve(nodes_.size() + 1);
        n = new RedisClient(conf_, log_, RedisClient::Role::kCommands, this);
        n->set_target(hp.host, hp.port);
        nodes_.push_back(n);
    } catch (...) {
        delete n;
        return nullptr;
    }

    if (started_ && !closing_) {
        n->start();
    }
    return n;
}


RedisClient *
RedisTopology::follow(const Redirect &given, const RedisClient &from) noexcept
{
    if (!cluster()) {
        return nullptr;
    }

    Redirect redirect;
    try {
        redirect = given;
        if (redirect.to.host.empty()) {
            // ":port": a node that does not know its address, i.e. the one
            // that answered
            auto asked = parse_host_port(std::string_view(
                reinterpret_cast<const char *>(from.name().data), from.name().len));
            if (!asked) {
                return nullptr;
            }
            redirect.to.host = asked->host;
        }
    } catch (...) {
        return nullptr;
    }

    if (!numeric_host(redirect.to.host)) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_TOPOLOGY, NGX_LOG_ERR, log_, 0,
                                    "apikey: redis cluster redirects to a host name, not an "
                                    "address (set cluster-preferred-endpoint-type ip)");
        return nullptr;
    }

    RedisClient *to = node(redirect.to);
    if (to == nullptr) {
        return nullptr;
    }

    if (!redirect.ask) {
        to->wake();   // it owns a slot now: reconnect it if it is lost
        // the slot has moved for good: use the new owner now, and learn
        // whatever else moved with it
        uint16_t owner = slot_owner(to);
        slots_[redirect.slot] = owner;
        if (owner != 0 && owner <= serving_.size()) {
            serving_[owner - 1] = true;
        }
        schedule_refresh(kRefreshSoon);
    }

    return to;
}


void
RedisTopology::schedule_refresh(ngx_msec_t delay) noexcept
{
    if (!cluster() || closing_) {
        return;
    }

    if (refresh_ev_.timer_set) {
        if (refresh_ev_.timer.key <= ngx_current_msec + delay) {
            return;   // sooner already
        }
        ngx_del_timer(&refresh_ev_);
    }

    ngx_add_timer(&refresh_ev_, delay);
}


void
RedisTopology::on_refresh_timer(ngx_event_t *ev)
{
    auto *self = static_cast<RedisTopology *>(ev->data);

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    self->refresh();
}


void
RedisTopology::refresh() noexcept
{
    if (closing_) {
        return;
    }

    if (refreshing_) {
        if (ngx_current_msec - refresh_sent_ < kRefreshDeadline) {
            schedule_refresh(kRefreshDegraded);   // look again then
            return;
        }
        // no answer for a second: a connection that died without a word is
        // dropped (if it is silent) and another node is asked. Should the
        // late reply come after all, it is installed like any other: a real
        // map, at worst a little old, which the next MOVED corrects.
        refresh_from_->note_timeout(kRefreshDeadline);
        refreshing_ = false;
        next_++;
    }

    // ask a connected node; when none is, the next one in turn (it connects)
    RedisClient *from = any_ready_node();
    const char *argv[] = {"CLUSTER", "SLOTS"};
    size_t lens[] = {7, 5};

    if (from != nullptr && from->send(2, argv, lens, ngx_http_apikey_guard<on_slots>, this)) {
        refreshing_ = true;
        refresh_from_ = from;
        refresh_sent_ = ngx_current_msec;
        schedule_refresh(kRefreshDeadline);   // the deadline is checked then
        return;
    }

    next_++;
    schedule_refresh(kRefreshDegraded);
}


void
RedisTopology::on_slots(redisAsyncContext *ac, void *r, void *privdata)
{
    auto *self = static_cast<RedisTopology *>(privdata);
    RedisClient *from = RedisClient::of(ac);
    auto *reply = static_cast<redisReply *>(r);

    from->note_reply();

    if (self->closing_) {
        return;
    }

    self->refreshing_ = false;
    if (self->refresh_ev_.timer_set) {
        ngx_del_timer(&self->refresh_ev_);   // the deadline: answered
    }

    bool healthy = reply != nullptr && self->load_slots(*from, reply);

    if (!healthy) {
        self->next_++;   // ask another node next time
    }

    self->schedule_refresh(healthy ? kRefreshPeriod : kRefreshDegraded);
}


// Installs a CLUSTER SLOTS answer. False when it was unusable, or names a
// master this worker cannot reach now (a failover is under way: ask again
// soon, to find the promoted replica).
bool
RedisTopology::load_slots(RedisClient &from, const redisReply *reply) noexcept
{
    std::vector<SlotRange>  ranges;
    std::string             error;
    bool                    reachable = true;

    try {
        auto asked = parse_host_port(std::string_view(
            reinterpret_cast<const char *>(from.name().data), from.name().len));
        if (!decode_cluster_slots(reply, asked ? asked->host : std::string(), ranges, error)) {
            ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_TOPOLOGY, NGX_LOG_ERR, log_, 0,
                                        "apikey: redis cluster node \"%V\": %s",
                                        &from.name(), error.c_str());
            return false;
        }

        std::vector<uint16_t> slots(kClusterSlots, 0);

        for (const SlotRange &range : ranges) {
            if (!numeric_host(range.master.host)) {
                ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_TOPOLOGY, NGX_LOG_ERR, log_, 0,
                                            "apikey: redis cluster names a master by host "
                                            "name, not address (set "
                                            "cluster-preferred-endpoint-type ip)");
                return false;
            }
            RedisClient *owner = node(range.master);
            if (owner == nullptr) {
                return false;
            }
            uint16_t index = slot_owner(owner);
            for (int slot = range.first; slot <= range.last; slot++) {
                slots[slot] = index;
            }
        }

        std::vector<bool> serving(nodes_.size(), false);
        for (uint16_t owner : slots) {
            if (owner != 0) {
                serving[owner - 1] = true;
            }
        }

        slots_.swap(slots);
        serving_.swap(serving);

    } catch (...) {
        return false;
    }

    // the others are not needed: no reconnecting to a dead master forever
    for (size_t i = 0; i < nodes_.size(); i++) {
        if (serving_[i]) {
            nodes_[i]->wake();
            reachable = reachable && nodes_[i]->ready();
        } else {
            nodes_[i]->park();
        }
    }

    ngx_http_apikey_count(slot_map_loads, 1);
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log_, 0,
                   "apikey: redis cluster slot map from \"%V\": %uz ranges",
                   &from.name(), ranges.size());

    return reachable;
}


void
RedisTopology::on_down(RedisClient &client) noexcept
{
    if (closing_) {
        return;
    }

    switch (conf_->topology) {

    case NGX_HTTP_APIKEY_SENTINEL:
        if (&client == sentinel_) {
            // this sentinel is gone: the next one of the list (after the
            // backoff, should none answer)
            try {
                HostPort next = seed(++next_);
                sentinel_->set_target(next.host, next.port, false);
            } catch (...) {
            }
        } else {
            ask_sentinel();   // the master may have moved
        }
        break;

    case NGX_HTTP_APIKEY_CLUSTER:
        if (&client == subscriber_) {
            move_subscriber();
        } else if (serving_.empty() || serves(client)) {
            schedule_refresh(kRefreshSoon);   // a failover may follow
        }
        break;

    default:
        break;
    }
}


void
RedisTopology::move_subscriber() noexcept
{
    // to another node of the cluster (the one it was on may be down for good)
    for (size_t i = 1; i <= nodes_.size(); i++) {
        RedisClient *n = nodes_[(next_ + i) % nodes_.size()];
        if (n->ready()) {
            try {
                std::string host(reinterpret_cast<const char *>(n->name().data), n->name().len);
                auto hp = parse_host_port(host);
                if (hp && !subscriber_->is_target(*hp)) {
                    subscriber_->set_target(hp->host, hp->port, false);
                }
            } catch (...) {
            }
            return;
        }
    }
}


void
RedisTopology::ask_sentinel() noexcept
{
    if (sentinel_ == nullptr || closing_) {
        return;
    }

    // a +switch-master announcement is what usually moves us; asking is for
    // one that was missed, and for a master that was demoted without one
    if (ngx_current_msec - last_sentinel_ask_ < kSentinelAskInterval) {
        return;
    }
    last_sentinel_ask_ = ngx_current_msec;

    sentinel_->restart();
}


void
RedisTopology::on_master(RedisClient &client, const HostPort &master) noexcept
{
    if (closing_ || commands_ == nullptr) {
        return;
    }

    if (!numeric_host(master.host)) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_TOPOLOGY, NGX_LOG_ERR, log_, 0,
                                    "apikey: sentinel \"%V\" names the master by host name, "
                                    "not address (set sentinel resolve-hostnames no)",
                                    &client.name());
        return;
    }

    if (commands_->is_target(master)) {
        return;
    }

    if (commands_->has_target()) {
        ngx_http_apikey_count(master_switches, 1);
    }

    commands_->set_target(master.host, master.port, true);
    if (subscriber_ != nullptr) {
        subscriber_->set_target(master.host, master.port, true);
    }

    ngx_log_error(NGX_LOG_NOTICE, log_, 0,
                  "apikey: redis master \"%V\" is at \"%V\" (from sentinel \"%V\")",
                  &conf_->master_name, &commands_->name(), &client.name());
}

}  // namespace apikey
