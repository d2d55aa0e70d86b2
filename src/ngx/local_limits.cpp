#include "local_limits.hpp"
#include "guard.hpp"

#include <string>
#include <vector>
#include <sys/time.h>

#include "rate.hpp"
#include "shm_rbtree.hpp"

namespace {

struct local_shctx_t {
    ngx_rbtree_t        rbtree;
    ngx_rbtree_node_t   sentinel;
    ngx_queue_t         lru;
};

// One bucket: "<id>:<set>:<interval>:<burst>" -> tat.
struct local_node_t {
    ngx_rbtree_node_t   node;      // key: crc32 of the name
    ngx_queue_t         queue;
    int64_t             tat;
    u_short             len;
    u_char              name[1];
};

local_node_t *
node_of(ngx_rbtree_node_t *n)
{
    return reinterpret_cast<local_node_t *>(n);
}


// Buckets of equal key, by the whole name.
ngx_int_t
compare_names(ngx_rbtree_node_t *a, ngx_rbtree_node_t *b)
{
    return ngx_memn2cmp(node_of(a)->name, node_of(b)->name, node_of(a)->len, node_of(b)->len);
}


local_node_t *
find_locked(local_shctx_t *sh, std::string_view name, ngx_rbtree_key_t key)
{
    ngx_rbtree_node_t  *n = apikey::rbtree_find(
        &sh->rbtree, key, [name](ngx_rbtree_node_t *node) {
            return ngx_memn2cmp((u_char *) name.data(), node_of(node)->name, name.size(),
                                node_of(node)->len);
        });

    return n ? node_of(n) : NULL;
}


void
remove_locked(local_shctx_t *sh, ngx_slab_pool_t *shpool, local_node_t *node)
{
    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&sh->rbtree, &node->node);
    ngx_slab_free_locked(shpool, node);
}


// Full buckets carry no information: forget them from the cold end.
void
forget_full_locked(local_shctx_t *sh, ngx_slab_pool_t *shpool, int64_t now, ngx_uint_t n)
{
    while (n-- && !ngx_queue_empty(&sh->lru)) {
        local_node_t *node = ngx_queue_data(ngx_queue_last(&sh->lru), local_node_t, queue);
        if (node->tat > now) {
            return;
        }
        remove_locked(sh, shpool, node);
    }
}


int64_t
now_us()
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);
    return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
}


ngx_int_t
init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    auto  *local = static_cast<ngx_http_apikey_local_t *>(shm_zone->data);
    auto  *old = static_cast<ngx_http_apikey_local_t *>(data);

    if (old) {
        local->sh = old->sh;
        local->shpool = old->shpool;
        return NGX_OK;
    }

    local->shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (shm_zone->shm.exists) {
        local->sh = local->shpool->data;
        return NGX_OK;
    }

    auto *sh = static_cast<local_shctx_t *>(ngx_slab_alloc(local->shpool, sizeof(local_shctx_t)));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, apikey::rbtree_insert<compare_names>);
    ngx_queue_init(&sh->lru);

    local->sh = sh;
    local->shpool->data = sh;

    return NGX_OK;
}

struct wanted_t {
    std::string_view          name;     // points into `text`
    u_char                    text[160];
    ngx_rbtree_key_t          key;
    apikey::BucketParams      params;
    local_node_t             *node;
    apikey::BucketDecision    decision;
};

}  // namespace


char *
ngx_http_apikey_local_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t  *mcf = static_cast<ngx_http_apikey_main_conf_t *>(conf);
    ngx_shm_zone_t               *zone;

    if (mcf->local) {
        return const_cast<char *>("is duplicate");
    }

    zone = ngx_http_apikey_shared_zone(cf, static_cast<ngx_str_t *>(cf->args->elts) + 1);
    if (zone == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    mcf->local = static_cast<ngx_http_apikey_local_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_local_t)));
    if (mcf->local == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    zone->init = ngx_http_apikey_guard<init_zone>;
    zone->data = mcf->local;

    return NGX_CONF_OK;
}


bool
ngx_http_apikey_local_take(ngx_http_apikey_local_t *local, std::string_view id,
    ngx_http_apikey_loc_conf_t *lcf, std::string_view own, std::string_view owner,
    apikey::BucketState *out, size_t *count)
{
    auto        *sh = static_cast<local_shctx_t *>(local->sh);
    ngx_uint_t   k, i;
    bool         passed = true;
    wanted_t     wanted[apikey::kMaxBuckets];
    size_t       n = 0;

    // the buckets this request must take from, by name: "<id>:<set>:<interval>:<burst>"
    apikey::OwnLimits own_limits;   // a fixed array: no allocation per request
    if (!own.empty()) {
        (void) apikey::parse_own_limits(own, own_limits);
    }

    auto *sets = static_cast<ngx_http_apikey_bucket_set_t *>(lcf->bucket_sets->elts);
    for (k = 0; k < lcf->bucket_sets->nelts; k++) {
        auto add = [&](apikey::BucketParams p) {
            if (n == apikey::kMaxBuckets) return;
            wanted_t &w = wanted[n++];
            w.params = p;
            // per=owner: the owner's bucket (only ever Redis-stored sets,
            // taken here while apikey_fail_mode cached stands in for Redis)
            bool by_owner = sets[k].per_owner && !owner.empty();
            std::string_view who = by_owner ? owner : id;
            u_char *end = ngx_snprintf(w.text, sizeof(w.text), "%s%*s:%V:%L:%L",
                                       by_owner ? "owner/" : "", who.size(), who.data(),
                                       &sets[k].name,
                                       static_cast<int64_t>(p.interval_us),
                                       static_cast<int64_t>(p.burst));
            w.name = std::string_view(reinterpret_cast<const char *>(w.text), end - w.text);
            w.key = ngx_crc32_short(w.text, end - w.text);
        };

        if (sets[k].overridable && !own_limits.empty()) {
            for (const auto &l : own_limits) add({l.interval_us(), l.burst});
        } else {
            auto *params = static_cast<apikey::BucketParams *>(sets[k].buckets->elts);
            for (i = 0; i < sets[k].buckets->nelts; i++) add(params[i]);
        }
    }

    ngx_shmtx_lock(&local->shpool->mutex);

    int64_t now = now_us();
    forget_full_locked(sh, local->shpool, now, 2);

    for (i = 0; i < n; i++) {
        wanted[i].node = find_locked(sh, wanted[i].name, wanted[i].key);
        wanted[i].decision = apikey::take_token(wanted[i].node ? wanted[i].node->tat : 0, now,
                                                wanted[i].params);
        passed = passed && wanted[i].decision.allowed;
    }

    // all or nothing, as in the script: a refused request takes no token
    for (i = 0; passed && i < n; i++) {
        local_node_t *node = wanted[i].node;
        if (node == NULL) {
            size_t size = offsetof(local_node_t, name) + wanted[i].name.size();
            node = static_cast<local_node_t *>(ngx_slab_alloc_locked(local->shpool, size));
            if (node == NULL) {
                // full: make room at the cold end (losing that state refills
                // those buckets early; size the zone for the active keys)
                for (int e = 0; e < 8 && !ngx_queue_empty(&sh->lru); e++) {
                    remove_locked(sh, local->shpool,
                                  ngx_queue_data(ngx_queue_last(&sh->lru), local_node_t, queue));
                }
                node = static_cast<local_node_t *>(ngx_slab_alloc_locked(local->shpool, size));
                if (node == NULL) {
                    continue;
                }
            }
            node->node.key = wanted[i].key;
            node->len = static_cast<u_short>(wanted[i].name.size());
            ngx_memcpy(node->name, wanted[i].name.data(), node->len);
            ngx_rbtree_insert(&sh->rbtree, &node->node);
        } else {
            ngx_queue_remove(&node->queue);
        }
        node->tat = wanted[i].decision.tat;
        ngx_queue_insert_head(&sh->lru, &node->queue);
    }

    ngx_shmtx_unlock(&local->shpool->mutex);

    for (i = 0; i < n; i++) {
        out[i] = apikey::BucketState{wanted[i].params.burst, wanted[i].params.interval_us,
                                     wanted[i].decision.remaining, wanted[i].decision.reset_us,
                                     wanted[i].decision.retry_us};
    }
    *count = n;

    return passed;
}
