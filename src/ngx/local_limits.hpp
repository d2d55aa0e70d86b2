// store=local: token buckets in nginx shared memory instead of Redis, for a
// single host. No Redis round trip for the limit at all (with apikey_cache, none
// for the whole check); the same GCRA arithmetic as the script (bucket.hpp),
// on this host's clock. Limits hold across the workers of one nginx, not across
// hosts: see README, "Rate limiting".
#pragma once

#include "ngx_http_apikey_module.hpp"

struct ngx_http_apikey_local_t {
    void             *sh;
    ngx_slab_pool_t  *shpool;
};

// Parses "apikey_local_limits zone=NAME:SIZE".
char *ngx_http_apikey_local_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

// Takes a token from every bucket of every set of the location for key `id`,
// or from none; fills `out` (at most apikey::kMaxBuckets) like the check
// script's reply. `own` are the key's own limits ("600r/m:50 ..."). `owner`:
// the key's owner, whose bucket a per=owner set is (as in the script), when
// apikey_fail_mode cached stands in for Redis's buckets. Returns true when the
// request passes.
bool ngx_http_apikey_local_take(ngx_http_apikey_local_t *local, std::string_view id,
    ngx_http_apikey_loc_conf_t *lcf, std::string_view own, std::string_view owner,
    apikey::BucketState *out, size_t *count);
