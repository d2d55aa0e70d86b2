#include "cache.hpp"
#include "guard.hpp"

#include <algorithm>

#include "invalidation.hpp"
#include "token.hpp"

namespace {

// Entries are found by digest in a hash table of chains, sized once for the
// zone: a lookup reads one bucket and, as digests are uniform and the table
// has about one bucket per entry the zone can hold, one or two entries. (An
// rbtree walk over 100,000 entries was 9.4% of a worker's time in perf, for
// the random-key benchmark; issue 16.)
struct cache_node_t;

struct cache_shctx_t {
    cache_node_t      **buckets;
    ngx_uint_t          mask;      // buckets - 1 (a power of two)
    ngx_queue_t         lru;       // most recently used at the head
    ngx_uint_t          epoch;
    // bumped by every invalidation and flush, in any worker: a check's reply
    // is stored only if none came between its sending and its reply (one
    // counter for all keys: an unrelated change costs one more miss, never a
    // stale entry; the id of an entry is known only once the reply is in)
    ngx_uint_t          generation;
};

// One entry; the strings follow the struct in the same allocation.
struct cache_node_t {
    cache_node_t       *next;      // in its hash chain
    ngx_queue_t         queue;
    u_char              digest[ngx_http_apikey_digest_size];
    u_char              id[apikey::kIdLength];
    u_char              state;     // apikey::CachedRecord::State
    u_char              hint_len;
    u_short             name_len;
    u_short             scopes_len;
    u_short             limits_len;
    u_char              owner_len;      // the key model (issue 14)
    u_char              role_len;
    u_char              plan_len;
    u_char              env_len;
    u_short             meta_len;
    u_short             allow_ip_len;
    u_char              quota_len;      // quotas and credits (issue 15)
    u_char              has_credits;
    ngx_uint_t          epoch;
    time_t              valid_until;
    time_t              confirmed_at;   // Redis said active (this host's clock), or 0
    int64_t             use_recorded;   // when this instance last wrote last_used
                                        // (Redis's clock, as last_used)
    int64_t             expires;
    int64_t             created;
    int64_t             last_used;
    int64_t             token_until;
    int64_t             clock_offset_ms;
    u_char              data[1];
};

// The per-cycle view of the zone: the cache struct with its shared part typed.
struct cache_zone_t {
    cache_shctx_t      *sh;
    ngx_slab_pool_t    *shpool;
    time_t              keep;
};

cache_zone_t
view(ngx_http_apikey_cache_t *cache)
{
    return cache_zone_t{static_cast<cache_shctx_t *>(cache->sh), cache->shpool, cache->keep};
}

// A digest is SHA-256 (or HMAC) output: any of its bytes are uniform, so
// its first word is the hash.
cache_node_t **
bucket_of(cache_zone_t *z, const u_char *digest)
{
    uintptr_t  h;

    ngx_memcpy(&h, digest, sizeof(h));
    return &z->sh->buckets[h & z->sh->mask];
}


cache_node_t *
find_locked(cache_zone_t *z, const u_char *digest)
{
    for (cache_node_t *n = *bucket_of(z, digest); n; n = n->next) {
        if (ngx_memcmp(digest, n->digest, ngx_http_apikey_digest_size) == 0) {
            return n;
        }
    }
    return NULL;
}


void
insert_locked(cache_zone_t *z, cache_node_t *node)
{
    cache_node_t **bucket = bucket_of(z, node->digest);

    node->next = *bucket;
    *bucket = node;
}


void
remove_locked(cache_zone_t *z, cache_node_t *node)
{
    cache_node_t **link = bucket_of(z, node->digest);

    while (*link != node) {
        link = &(*link)->next;   // the node is in its chain: the walk ends
    }
    *link = node->next;

    ngx_queue_remove(&node->queue);
    ngx_slab_free_locked(z->shpool, node);
}


// Past its ttl, an entry still kept as last-known-good (apikey_fail_mode cached).
bool
kept_locked(cache_zone_t *z, cache_node_t *node, time_t now)
{
    return node->confirmed_at > 0 && now - node->confirmed_at < z->keep;
}


// Frees up to n entries from the cold end that are stale (too old, or of an
// older epoch), or any n when `force`: the allocation needs room.
void
evict_locked(cache_zone_t *z, ngx_uint_t n, bool force)
{
    time_t  now = ngx_time();

    while (n-- && !ngx_queue_empty(&z->sh->lru)) {
        ngx_queue_t   *q = ngx_queue_last(&z->sh->lru);
        cache_node_t  *node = ngx_queue_data(q, cache_node_t, queue);

        if (!force && node->epoch == z->sh->epoch
            && (node->valid_until > now || kept_locked(z, node, now)))
        {
            return;
        }

        remove_locked(z, node);
    }
}


ngx_int_t
init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    auto  *cache = static_cast<ngx_http_apikey_cache_t *>(shm_zone->data);
    auto  *old = static_cast<ngx_http_apikey_cache_t *>(data);

    if (old) {   // a reload: the entries stay
        cache->sh = old->sh;
        cache->shpool = old->shpool;
        return NGX_OK;
    }

    cache->shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    auto *sh = static_cast<cache_shctx_t *>(ngx_slab_alloc(cache->shpool, sizeof(cache_shctx_t)));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    // about one bucket per entry the zone can hold (an entry with its
    // strings is rarely under 256 bytes), a power of two
    size_t wanted = shm_zone->shm.size / 256;
    ngx_uint_t n = 64;
    while (n < wanted) {
        n <<= 1;
    }
    sh->buckets = static_cast<cache_node_t **>(
        ngx_slab_calloc(cache->shpool, n * sizeof(cache_node_t *)));
    if (sh->buckets == NULL) {
        return NGX_ERROR;
    }
    sh->mask = n - 1;
    ngx_queue_init(&sh->lru);
    sh->epoch = 0;
    sh->generation = 0;

    cache->sh = sh;
    cache->shpool->data = sh;

    // eviction makes room: a full zone is normal, not worth a log line
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}

}  // namespace


char *
ngx_http_apikey_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t  *mcf = static_cast<ngx_http_apikey_main_conf_t *>(conf);

    ngx_str_t       *value, s;
    ngx_uint_t       i;
    ngx_shm_zone_t  *zone = NULL;

    if (mcf->cache) {
        return const_cast<char *>("is duplicate");
    }

    mcf->cache = static_cast<ngx_http_apikey_cache_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_cache_t)));
    if (mcf->cache == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    mcf->cache->ttl = 30;
    mcf->cache->announce = 5000;
    value = static_cast<ngx_str_t *>(cf->args->elts);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            zone = ngx_http_apikey_shared_zone(cf, &value[i]);
            if (zone == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;
            mcf->cache->ttl = ngx_parse_time(&s, 1);
            if (mcf->cache->ttl == static_cast<time_t>(NGX_ERROR) || mcf->cache->ttl == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid ttl \"%V\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "instance=", 9) == 0) {
            mcf->cache->instance.data = value[i].data + 9;
            mcf->cache->instance.len = value[i].len - 9;
            if (!apikey::valid_instance_name(ngx_http_apikey_sv(mcf->cache->instance))) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid instance \"%V\" (1-128 of A-Z a-z 0-9 _ . : -)",
                                   &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "announce=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            mcf->cache->announce = ngx_parse_time(&s, 0);
            // at least 100ms: renewing more often would only load Redis
            if (mcf->cache->announce == static_cast<ngx_msec_t>(NGX_ERROR)
                || mcf->cache->announce < 100 || mcf->cache->announce > 3600000)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid announce \"%V\" (100ms to 1h)", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    zone->init = ngx_http_apikey_guard<init_zone>;
    zone->data = mcf->cache;

    return NGX_CONF_OK;
}


static void
ngx_http_apikey_copy_out(ngx_pool_t *pool, const u_char *from, size_t len,
    std::string_view *to)
{
    u_char  *p = len ? static_cast<u_char *>(ngx_pnalloc(pool, len)) : NULL;

    if (p) {
        ngx_memcpy(p, from, len);
        *to = std::string_view(reinterpret_cast<const char *>(p), len);
    } else {
        *to = std::string_view();
    }
}


static bool copy_out_locked(cache_node_t *node, ngx_http_request_t *r,
    apikey::CachedRecord *out);


ngx_int_t
ngx_http_apikey_cache_lookup(ngx_http_apikey_cache_t *cache, const u_char *digest,
    ngx_http_request_t *r, apikey::CachedRecord *out, int64_t *use_mark)
{
    time_t         now = ngx_time();
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;
    cache_node_t  *node;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = find_locked(z, digest);

    if (node == NULL || node->epoch != z->sh->epoch || node->valid_until <= now) {
        // past its ttl, Redis is asked (and its reply replaces the entry);
        // the entry stays only as last-known-good, for when Redis fails
        if (node && (node->epoch != z->sh->epoch || !kept_locked(z, node, now))) {
            remove_locked(z, node);
        }
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&z->sh->lru, &node->queue);

    *use_mark = std::max<int64_t>(node->use_recorded, node->last_used);

    bool lost = copy_out_locked(node, r, out);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return lost ? NGX_DECLINED : NGX_OK;
}


ngx_int_t
ngx_http_apikey_cache_last_known(ngx_http_apikey_cache_t *cache, const u_char *digest,
    ngx_http_request_t *r, apikey::CachedRecord *out, time_t max_age)
{
    bool           lost;
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;
    cache_node_t  *node;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = find_locked(z, digest);

    // an entry of an older epoch may predate a change missed while the
    // subscription was down: never trusted, not even now
    if (node == NULL || node->epoch != z->sh->epoch
        || !apikey::last_known_good(static_cast<apikey::CachedRecord::State>(node->state),
                                    node->confirmed_at, ngx_time(), max_age))
    {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&z->sh->lru, &node->queue);

    lost = copy_out_locked(node, r, out);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return lost ? NGX_DECLINED : NGX_OK;
}


// Copies an entry into r->pool; true when some of it was lost (out of memory).
static bool
copy_out_locked(cache_node_t *node, ngx_http_request_t *r, apikey::CachedRecord *out)
{
    u_char  *p;

    out->state = static_cast<apikey::CachedRecord::State>(node->state);
    out->expires = node->expires;
    out->created = node->created;
    out->last_used = node->last_used;
    out->token_until = node->token_until;
    out->clock_offset_ms = node->clock_offset_ms;

    p = node->data;
    ngx_http_apikey_copy_out(r->pool, node->id, sizeof(node->id), &out->id);
    ngx_http_apikey_copy_out(r->pool, p, node->name_len, &out->name);
    p += node->name_len;
    ngx_http_apikey_copy_out(r->pool, p, node->scopes_len, &out->scopes);
    p += node->scopes_len;
    ngx_http_apikey_copy_out(r->pool, p, node->hint_len, &out->hint);
    p += node->hint_len;
    ngx_http_apikey_copy_out(r->pool, p, node->limits_len, &out->limits);
    p += node->limits_len;
    ngx_http_apikey_copy_out(r->pool, p, node->owner_len, &out->owner);
    p += node->owner_len;
    ngx_http_apikey_copy_out(r->pool, p, node->role_len, &out->role);
    p += node->role_len;
    ngx_http_apikey_copy_out(r->pool, p, node->plan_len, &out->plan);
    p += node->plan_len;
    ngx_http_apikey_copy_out(r->pool, p, node->env_len, &out->env);
    p += node->env_len;
    ngx_http_apikey_copy_out(r->pool, p, node->meta_len, &out->meta);
    p += node->meta_len;
    ngx_http_apikey_copy_out(r->pool, p, node->allow_ip_len, &out->allow_ip);
    p += node->allow_ip_len;
    ngx_http_apikey_copy_out(r->pool, p, node->quota_len, &out->quota);
    out->has_credits = node->has_credits != 0;

    // out of memory must not read as "no allowlist", "no environment" or
    // "no owner" (then the key's own bucket): a miss, and Redis decides
    return (node->allow_ip_len && out->allow_ip.empty())
           || (node->quota_len && out->quota.empty())
           || (node->env_len && out->env.empty())
           || (node->scopes_len && out->scopes.empty())
           || (node->limits_len && out->limits.empty())
           || (node->owner_len && out->owner.empty())
           || (node->role_len && out->role.empty())
           || (node->plan_len && out->plan.empty())
           || (node->meta_len && out->meta.empty());
}


bool
ngx_http_apikey_cache_claim_use(ngx_http_apikey_cache_t *cache, const u_char *digest,
    int64_t now, time_t interval)
{
    bool           claimed = false;
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;
    cache_node_t  *node;

    ngx_shmtx_lock(&z->shpool->mutex);

    // the module writes last_used at most once per interval per key; this
    // instance's workers share the decision through the entry
    node = find_locked(z, digest);
    if (node != NULL && node->epoch == z->sh->epoch
        && node->state == static_cast<u_char>(apikey::CachedRecord::State::kActive)
        && now - std::max<int64_t>(node->use_recorded, node->last_used) >= interval)
    {
        node->use_recorded = now;
        node->last_used = now;
        claimed = true;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return claimed;
}


ngx_uint_t
ngx_http_apikey_cache_generation(ngx_http_apikey_cache_t *cache)
{
    ngx_uint_t     generation;
    cache_zone_t   zone = view(cache);

    ngx_shmtx_lock(&zone.shpool->mutex);
    generation = zone.sh->generation;
    ngx_shmtx_unlock(&zone.shpool->mutex);

    return generation;
}


void
ngx_http_apikey_cache_store(ngx_http_apikey_cache_t *cache, const u_char *digest,
    const apikey::CachedRecord &record, ngx_uint_t generation)
{
    size_t         size;
    u_char        *p;
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;
    cache_node_t  *node;

    if (record.id.size() != apikey::kIdLength || record.name.size() > 0xffff
        || record.scopes.size() > 0xffff || record.hint.size() > 0xff
        || record.limits.size() > 0xffff || record.owner.size() > 0xff
        || record.role.size() > 0xff || record.plan.size() > 0xff || record.env.size() > 0xff
        || record.meta.size() > 0xffff || record.allow_ip.size() > 0xffff
        || record.quota.size() > 0xff)
    {
        return;
    }

    size = offsetof(cache_node_t, data) + record.name.size() + record.scopes.size()
           + record.hint.size() + record.limits.size() + record.owner.size()
           + record.role.size() + record.plan.size() + record.env.size() + record.meta.size()
           + record.allow_ip.size() + record.quota.size();

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->generation != generation) {
        // a key changed (or the cache was flushed) while this reply was in
        // flight: it may describe the record from before the change, and the
        // invalidation that would drop it has already been and gone
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    node = find_locked(z, digest);
    if (node) {
        remove_locked(z, node);
    }

    evict_locked(z, 2, false);   // keep the cold end clean as we go

    node = static_cast<cache_node_t *>(ngx_slab_alloc_locked(z->shpool, size));
    if (node == NULL) {
        evict_locked(z, 16, true);
        node = static_cast<cache_node_t *>(ngx_slab_alloc_locked(z->shpool, size));
        if (node == NULL) {
            ngx_shmtx_unlock(&z->shpool->mutex);
            return;   // not cached: the next request asks Redis again
        }
    }

    ngx_memcpy(node->digest, digest, ngx_http_apikey_digest_size);
    ngx_memcpy(node->id, record.id.data(), apikey::kIdLength);
    node->state = static_cast<u_char>(record.state);
    node->name_len = static_cast<u_short>(record.name.size());
    node->scopes_len = static_cast<u_short>(record.scopes.size());
    node->hint_len = static_cast<u_char>(record.hint.size());
    node->limits_len = static_cast<u_short>(record.limits.size());
    node->owner_len = static_cast<u_char>(record.owner.size());
    node->role_len = static_cast<u_char>(record.role.size());
    node->plan_len = static_cast<u_char>(record.plan.size());
    node->env_len = static_cast<u_char>(record.env.size());
    node->meta_len = static_cast<u_short>(record.meta.size());
    node->allow_ip_len = static_cast<u_short>(record.allow_ip.size());
    node->quota_len = static_cast<u_char>(record.quota.size());
    node->has_credits = record.has_credits ? 1 : 0;
    node->epoch = z->sh->epoch;
    node->valid_until = ngx_time() + cache->ttl;
    node->confirmed_at = record.state == apikey::CachedRecord::State::kActive ? ngx_time() : 0;
    node->use_recorded = 0;
    node->expires = record.expires;
    node->created = record.created;
    node->last_used = record.last_used;
    node->token_until = record.token_until;
    node->clock_offset_ms = record.clock_offset_ms;

    // a negative entry has empty views with no data: memcpy must not see them
    // (found by the UBSan build)
    auto copy_in = [](u_char *to, std::string_view s) {
        return s.empty() ? to : ngx_cpymem(to, s.data(), s.size());
    };
    p = copy_in(node->data, record.name);
    p = copy_in(p, record.scopes);
    p = copy_in(p, record.hint);
    p = copy_in(p, record.limits);
    p = copy_in(p, record.owner);
    p = copy_in(p, record.role);
    p = copy_in(p, record.plan);
    p = copy_in(p, record.env);
    p = copy_in(p, record.meta);
    p = copy_in(p, record.allow_ip);
    copy_in(p, record.quota);

    insert_locked(z, node);
    ngx_queue_insert_head(&z->sh->lru, &node->queue);

    ngx_shmtx_unlock(&z->shpool->mutex);
}


void
ngx_http_apikey_cache_invalidate(ngx_http_apikey_cache_t *cache, std::string_view id)
{
    ngx_queue_t   *q, *next;
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;

    if (id.size() != apikey::kIdLength) {
        return;
    }

    // a walk over the whole cache: changes are rare (people running apikeyctl),
    // lookups are not, so no second index is kept for them
    ngx_shmtx_lock(&z->shpool->mutex);

    z->sh->generation++;

    for (q = ngx_queue_head(&z->sh->lru); q != ngx_queue_sentinel(&z->sh->lru); q = next) {
        next = ngx_queue_next(q);
        cache_node_t *node = ngx_queue_data(q, cache_node_t, queue);
        if (ngx_memcmp(node->id, id.data(), apikey::kIdLength) == 0) {
            remove_locked(z, node);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


void
ngx_http_apikey_cache_flush(ngx_http_apikey_cache_t *cache)
{
    cache_zone_t   zone = view(cache);
    cache_zone_t  *z = &zone;

    ngx_shmtx_lock(&z->shpool->mutex);
    z->sh->epoch++;
    z->sh->generation++;
    ngx_shmtx_unlock(&z->shpool->mutex);
}
