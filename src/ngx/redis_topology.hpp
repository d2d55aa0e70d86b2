// Where a worker's Redis commands go: the one server of apikey_redis, the
// master a sentinel names (apikey_redis sentinel=... master=NAME), or the
// master that owns a key's hash slot in a Redis Cluster (apikey_redis
// cluster=...). Every Redis key of one API key carries the tag {id}, so a
// check touches one slot and is one command to one node.
//
// Sentinel: one connection to a sentinel asks for the master and then listens
// for +switch-master; the command connection follows the named master. A lost
// command connection or a -READONLY reply asks the sentinel again (a fresh
// connection: a subscribed one can send nothing else). A dead sentinel hands
// over to the next of the list.
//
// Cluster: one pipelined connection per node per worker, made when the node
// is first seen and kept for the worker's life (a cluster has few nodes, and
// a failed-over master usually comes back as a replica at the same address).
// The slot map comes from CLUSTER SLOTS: at start, after a MOVED (the slot is
// updated at once from the redirect itself), while a master is unreachable
// (every 250 ms, so a promoted replica is found quickly) and every 10 s.
// A node that serves no slot in the map (a replica given as a seed, a failed
// master) is disconnected and left alone until a redirect names it again.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "redis_client.hpp"

namespace apikey {

class RedisTopology final : public RedisClient::Listener {
public:
    RedisTopology(ngx_http_apikey_main_conf_t *conf, ngx_log_t *log) noexcept;
    ~RedisTopology();

    RedisTopology(const RedisTopology &) = delete;
    RedisTopology &operator=(const RedisTopology &) = delete;

    // Connects. With apikey_cache, `on_subscribed` and `on_invalidation` get
    // a subscription to <prefix>invalidate. False when out of memory.
    bool start(void (*on_subscribed)(), void (*on_invalidation)(std::string_view)) noexcept;

    // The connection for a Redis key (on a cluster, its slot's master), or
    // nullptr when none is known yet. It may not be usable: its send() says.
    RedisClient *for_key(std::string_view key) noexcept;
    RedisClient *for_slot(int slot) noexcept;

    // The single server or the sentinel's master; nullptr on a cluster, where
    // no one node holds every key.
    RedisClient *primary() noexcept { return commands_; }
    bool cluster() const noexcept { return conf_->topology == NGX_HTTP_APIKEY_CLUSTER; }

    // Every server that holds keys, for a walk with SCAN: the single server
    // or the sentinel's master, or each master of the cluster's slot map
    // (none while there is no map). May throw std::bad_alloc.
    std::vector<RedisClient *> key_holders() const;

    // Sentinel mode before any sentinel has named the master (a worker just
    // started, e.g. by a reload): checks wait for it rather than fail.
    bool awaiting_master() const noexcept {
        return conf_->topology == NGX_HTTP_APIKEY_SENTINEL && commands_ != nullptr
               && !commands_->has_target() && !closing_;
    }

    // apikey_cache may be used only while this holds: an invalidation could
    // be missed otherwise.
    bool subscribed() const noexcept { return subscriber_ && subscriber_->subscribed(); }

    // A MOVED or ASK from cluster node `from`: the connection to send the
    // command to instead (after ASKING, for ASK), or nullptr.
    RedisClient *follow(const Redirect &redirect, const RedisClient &from) noexcept;

    // -TRYAGAIN or -CLUSTERDOWN: the slot map is changing.
    void refresh_soon() noexcept { schedule_refresh(kRefreshSoon); }

    // -READONLY: the server we write to was demoted; ask a sentinel now.
    void note_readonly() noexcept { ask_sentinel(); }

    void on_down(RedisClient &client) noexcept override;
    void on_master(RedisClient &client, const HostPort &master) noexcept override;

private:
    static constexpr ngx_msec_t kRefreshSoon = 100;
    static constexpr ngx_msec_t kRefreshDegraded = 250;
    static constexpr ngx_msec_t kRefreshPeriod = 10000;
    static constexpr ngx_msec_t kRefreshDeadline = 1000;
    static constexpr ngx_msec_t kSentinelAskInterval = 250;
    static constexpr size_t kMaxNodes = 1000;

    RedisClient *node(const HostPort &hp) noexcept;   // found or added (cluster)
    uint16_t slot_owner(const RedisClient *n) const noexcept;   // as in slots_: index + 1
    RedisClient *any_ready_node() noexcept;
    bool serves(const RedisClient &client) const noexcept;
    HostPort seed(ngx_uint_t i) const;
    void refresh() noexcept;
    void schedule_refresh(ngx_msec_t delay) noexcept;
    bool load_slots(RedisClient &from, const redisReply *reply) noexcept;
    void ask_sentinel() noexcept;
    void move_subscriber() noexcept;

    static void on_slots(redisAsyncContext *ac, void *reply, void *privdata);
    static void on_refresh_timer(ngx_event_t *ev);

    ngx_http_apikey_main_conf_t  *conf_;
    ngx_log_t                    *log_;
    RedisClient                  *commands_ = nullptr;    // single, sentinel
    RedisClient                  *sentinel_ = nullptr;    // sentinel
    RedisClient                  *subscriber_ = nullptr;  // apikey_cache
    std::vector<RedisClient *>    nodes_;                 // cluster: every node seen
    std::vector<uint16_t>         slots_;                 // cluster: node index + 1, 0: unknown
    std::vector<bool>             serving_;               // cluster: by node index
    ngx_uint_t                    next_ = 0;              // the sentinel, or node, to try next
    bool                          started_ = false;
    bool                          refreshing_ = false;
    RedisClient                  *refresh_from_ = nullptr;
    ngx_msec_t                    refresh_sent_ = 0;
    bool                          closing_ = false;
    ngx_msec_t                    last_sentinel_ask_ = 0;
    ngx_event_t                   refresh_ev_;
};

}  // namespace apikey
