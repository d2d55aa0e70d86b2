// apikey_cache: key records in a shared-memory zone, by token digest, for all
// workers: slab allocation, an rbtree to find, a queue for LRU eviction, as
// ngx_http_limit_req_module keeps its zone. Negative entries remember digests
// Redis did not know.
//
// Freshness: the CLI publishes every change on the Redis channel
// <prefix>invalidate; each worker subscribes on a connection of its own and
// drops a changed key's entries the moment the message arrives. A worker whose
// subscription is down does not use the cache at all, and when a subscription
// is (re)established the whole cache is dropped (an epoch bump), since changes
// may have been missed meanwhile. ttl= bounds the age of any entry used while
// Redis answers.
//
// Last-known-good (apikey_fail_mode cached): an entry of an active key also
// remembers when Redis last confirmed it, and is kept for `keep` seconds after
// that even past its ttl, to answer for Redis while Redis cannot be reached.
// A normal lookup never returns such a stale entry; an invalidation or a flush
// drops it as any other.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include "local_check.hpp"

inline constexpr size_t  ngx_http_apikey_digest_size = 32;

struct ngx_http_apikey_cache_t {
    time_t            ttl;
    time_t            keep;       // the longest max_age of apikey_fail_mode cached, or 0
    ngx_str_t         instance;   // instance=, or empty: hostname:masterpid (announce.cpp)
    ngx_msec_t        announce;   // announce=: how often a worker renews its announcement
    void             *sh;         // the shared rbtree and LRU queue (cache.cpp)
    ngx_slab_pool_t  *shpool;
};

// Parses "apikey_cache zone=NAME:SIZE [ttl=TIME] [instance=NAME] [announce=TIME]".
char *ngx_http_apikey_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

// Finds a digest. On a hit, copies the record into r->pool and sets *use_mark
// to when this instance last recorded the key's use, or the record says it
// was last used (Redis's clock). Returns NGX_OK on a hit, NGX_DECLINED on a
// miss.
ngx_int_t ngx_http_apikey_cache_lookup(ngx_http_apikey_cache_t *cache,
    const u_char *digest, ngx_http_request_t *r, apikey::CachedRecord *out,
    int64_t *use_mark);

// After a hit whose verdict records use (apikey::records_use) and whose
// use_mark is `interval` old: claims the write for this request, so that the
// whole instance writes last_used at most once per interval. `now`: Redis's
// clock, unix seconds.
bool ngx_http_apikey_cache_claim_use(ngx_http_apikey_cache_t *cache, const u_char *digest,
    int64_t now, time_t interval);

// The count of invalidations and flushes so far, read before a check is sent.
ngx_uint_t ngx_http_apikey_cache_generation(ngx_http_apikey_cache_t *cache);

// Remembers what Redis said about a digest (a negative entry for kUnknown),
// unless an invalidation or a flush came after `generation` was read: the
// reply may then predate the change, and nothing would drop it later.
void ngx_http_apikey_cache_store(ngx_http_apikey_cache_t *cache, const u_char *digest,
    const apikey::CachedRecord &record, ngx_uint_t generation);

// apikey_fail_mode cached, when Redis failed: finds a digest whose entry
// Redis confirmed active less than `max_age` ago (apikey::last_known_good),
// whatever its ttl, and copies it into r->pool. NGX_OK when found, else
// NGX_DECLINED.
ngx_int_t ngx_http_apikey_cache_last_known(ngx_http_apikey_cache_t *cache,
    const u_char *digest, ngx_http_request_t *r, apikey::CachedRecord *out, time_t max_age);

// Drops every entry of one key (a message on <prefix>invalidate).
void ngx_http_apikey_cache_invalidate(ngx_http_apikey_cache_t *cache, std::string_view id);

// Drops everything, lazily: entries of an older epoch count as absent.
void ngx_http_apikey_cache_flush(ngx_http_apikey_cache_t *cache);
