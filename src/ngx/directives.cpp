// Directives: parsed and validated once, at configuration time, into the plain
// structs the request path reads.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include <string>

#include "admin_script.hpp"
#include "cache.hpp"
#include "check_script.hpp"
#include "local_limits.hpp"
#include "metrics.hpp"
#include "quota_conf.hpp"
#include "digest.hpp"
#include "keyspace.hpp"
#include "rate.hpp"
#include "scope.hpp"

static char *ngx_http_apikey_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_apikey_scope_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_apikey_superscope_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_apikey_hash_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);




static char *ngx_http_apikey_fail_mode_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


// apikey_cost: 0 (a free location) to the most credits a key can hold
static ngx_conf_num_bounds_t  ngx_http_apikey_cost_bounds = {
    ngx_conf_check_num_bounds, 0, 1000000000
};

static ngx_conf_enum_t  ngx_http_apikey_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_apikey_envs[] = {
    { ngx_string("any"), NGX_HTTP_APIKEY_ENV_ANY },
    { ngx_string("live"), NGX_HTTP_APIKEY_ENV_LIVE },
    { ngx_string("test"), NGX_HTTP_APIKEY_ENV_TEST },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_apikey_ratelimit_headers[] = {
    { ngx_string("draft"), NGX_HTTP_APIKEY_RATELIMIT_DRAFT },
    { ngx_string("legacy"), NGX_HTTP_APIKEY_RATELIMIT_LEGACY },
    { ngx_string("off"), NGX_HTTP_APIKEY_RATELIMIT_OFF },
    { ngx_null_string, 0 }
};


ngx_command_t  ngx_http_apikey_commands[] = {

    { ngx_string("apikey_ratelimit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, ratelimit_headers),
      &ngx_http_apikey_ratelimit_headers },

    { ngx_string("apikey_env"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, env),
      &ngx_http_apikey_envs },

    { ngx_string("apikey"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, enable),
      NULL },

    { ngx_string("apikey_usage"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, usage),
      NULL },

    { ngx_string("apikey_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_guard<ngx_http_apikey_redis_directive>,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_redis_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, batch),
      NULL },

    { ngx_string("apikey_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, timeout),
      NULL },

    { ngx_string("apikey_scope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_guard<ngx_http_apikey_scope_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_superscope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_guard<ngx_http_apikey_superscope_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_strip_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, strip_credentials),
      NULL },

    { ngx_string("apikey_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_guard<ngx_http_apikey_limit_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_quota"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_apikey_guard<ngx_http_apikey_quota_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_cost"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, cost),
      &ngx_http_apikey_cost_bounds },

    { ngx_string("apikey_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, log_level),
      &ngx_http_apikey_log_levels },

    { ngx_string("apikey_fail_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_apikey_guard<ngx_http_apikey_fail_mode_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, dry_run),
      NULL },

    { ngx_string("apikey_require_tls"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, require_tls),
      NULL },

    { ngx_string("apikey_accept_imported"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, accept_imported),
      NULL },

    { ngx_string("apikey_expiry_warning"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, expiry_warning),
      NULL },

    { ngx_string("apikey_introspect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_apikey_guard<ngx_http_apikey_introspect_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_apikey_guard<ngx_http_apikey_admin_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_leak_report"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_apikey_guard<ngx_http_apikey_leak_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_apikey_guard<ngx_http_apikey_metrics_directive>,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_guard<ngx_http_apikey_cache_directive>,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_local_limits"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_guard<ngx_http_apikey_local_directive>,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_hash_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_guard<ngx_http_apikey_hash_secret_directive>,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_last_used_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, last_used_interval),
      NULL },

      ngx_null_command
};


void *
ngx_http_apikey_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_apikey_main_conf_t  *mcf;
    std::array<char, 40>          sha;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_main_conf_t)));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->db = NGX_CONF_UNSET;
    mcf->usage = NGX_CONF_UNSET;
    mcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->batch = NGX_CONF_UNSET;
    ngx_str_set(&mcf->prefix, "apikey:");

    // the scripts are fixed at build time, so are their names in Redis's cache
    for (auto [script, out] : {std::pair{apikey::kCheckScript, &mcf->script_sha},
                               std::pair{apikey::kAdminScript, &mcf->admin_sha}})
    {
        if (!apikey::sha1_hex(script, sha)) {
            return NULL;
        }
        out->data = static_cast<u_char *>(ngx_pnalloc(cf->pool, sha.size() + 1));
        if (out->data == NULL) {
            return NULL;
        }
        ngx_memcpy(out->data, sha.data(), sha.size());
        out->data[sha.size()] = '\0';
        out->len = sha.size();
    }

    return mcf;
}


void *
ngx_http_apikey_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_apikey_loc_conf_t  *conf;

    conf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_loc_conf_t)));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->superscopes = { 0, NULL };
     *     conf->bucket_sets = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->scopes = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->superscopes_set = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->strip_credentials = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->fail_mode = NGX_CONF_UNSET_UINT;
    conf->fail_max_age = NGX_CONF_UNSET;
    conf->require_tls = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->accept_imported = NGX_CONF_UNSET;
    conf->expiry_warning = NGX_CONF_UNSET;
    conf->last_used_interval = NGX_CONF_UNSET;
    conf->limit_lines = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->quota_lines = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->cost = NGX_CONF_UNSET;
    conf->env = NGX_CONF_UNSET_UINT;
    conf->ratelimit_headers = NGX_CONF_UNSET_UINT;

    return conf;
}


// Groups the limit lines into bucket sets, one Redis key each, and renders
// each set's script argument once: "K 600000:10" (the key-wide default set,
// which a key's own limits replace) or "F ..." (a named set that always applies).
static char *
ngx_http_apikey_build_bucket_sets(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *conf)
{
    ngx_uint_t                     i, k, fixed, overridable;
    ngx_http_apikey_bucket_set_t  *set;
    ngx_http_apikey_limit_line_t  *lines, default_line;
    ngx_array_t                    default_lines;

    if (conf->limit_lines == NULL) {
        // nothing configured anywhere: apikey_limit 100r/m burst=10;
        if (ngx_array_init(&default_lines, cf->pool, 1, sizeof(ngx_http_apikey_limit_line_t))
            != NGX_OK)
        {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        default_line.count = 100;
        default_line.unit = 'm';
        default_line.burst = 10;
        default_line.local = 0;
        default_line.per_owner = 0;
        ngx_str_set(&default_line.bucket, "default");
        *static_cast<ngx_http_apikey_limit_line_t *>(ngx_array_push(&default_lines)) =
            default_line;

        conf->limit_lines = static_cast<ngx_array_t *>(
            ngx_pcalloc(cf->pool, sizeof(ngx_array_t)));
        if (conf->limit_lines == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        *conf->limit_lines = default_lines;
    }

    conf->bucket_sets = ngx_array_create(cf->pool, 2, sizeof(ngx_http_apikey_bucket_set_t));
    if (conf->bucket_sets == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    lines = static_cast<ngx_http_apikey_limit_line_t *>(conf->limit_lines->elts);
    fixed = 0;
    overridable = 0;

    for (i = 0; i < conf->limit_lines->nelts; i++) {

        set = NULL;
        for (k = 0; k < conf->bucket_sets->nelts; k++) {
            ngx_http_apikey_bucket_set_t *s =
                static_cast<ngx_http_apikey_bucket_set_t *>(conf->bucket_sets->elts) + k;
            if (s->name.len == lines[i].bucket.len
                && ngx_strncmp(s->name.data, lines[i].bucket.data, s->name.len) == 0)
            {
                set = s;
                break;
            }
        }

        bool is_default = lines[i].bucket.len == apikey::kDefaultBucket.size()
                          && ngx_strncmp(lines[i].bucket.data, "default", 7) == 0;

        std::string spec;
        if (set == NULL) {
            set = static_cast<ngx_http_apikey_bucket_set_t *>(
                ngx_array_push(conf->bucket_sets));
            if (set == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            set->name = lines[i].bucket;
            set->buckets = NULL;
            set->limits = NULL;
            set->overridable = is_default;
            set->per_owner = lines[i].per_owner ? 1 : 0;
            spec.push_back(is_default ? apikey::kBucketSetOverridable
                                      : apikey::kBucketSetFixed);
            if (set->per_owner) {
                // the script names the owner's bucket after the set
                spec += "O:";
                spec.append(reinterpret_cast<const char *>(set->name.data), set->name.len);
            }
        } else {
            if (static_cast<ngx_flag_t>(set->per_owner) != lines[i].per_owner) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the \"apikey_limit\" lines of bucket \"%V\" must all say "
                                   "the same \"per=\"", &set->name);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            spec.assign(reinterpret_cast<const char *>(set->spec.data), set->spec.len);
        }

        apikey::Limit limit;
        limit.count = lines[i].count;
        limit.unit = static_cast<char>(lines[i].unit);
        limit.burst = lines[i].burst;

        if (i > 0 && lines[i].local != lines[0].local) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"apikey_limit\" lines of a location must all use the "
                               "same store");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        conf->local_limits = lines[i].local;

        if (set->buckets == NULL) {
            set->buckets = ngx_array_create(cf->pool, 2, sizeof(apikey::BucketParams));
            if (set->buckets == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        auto *params = static_cast<apikey::BucketParams *>(ngx_array_push(set->buckets));
        if (params == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        *params = apikey::BucketParams{limit.interval_us(), limit.burst};

        if (set->limits == NULL) {
            set->limits = ngx_array_create(cf->pool, 2, sizeof(apikey::Limit));
            if (set->limits == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        auto *written = static_cast<apikey::Limit *>(ngx_array_push(set->limits));
        if (written == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        *written = limit;

        spec += " " + std::to_string(limit.interval_us()) + ":" + std::to_string(limit.burst);

        set->spec.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, spec.size()));
        if (set->spec.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_memcpy(set->spec.data, spec.data(), spec.size());
        set->spec.len = spec.size();

        if (is_default) {
            overridable++;
        } else {
            fixed++;
        }
    }

    // a key's own limits (at most 8) replace the default set's lines
    if (fixed + (overridable ? ngx_max(overridable, 8) : 0) > apikey::kMaxBuckets) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"apikey_limit\" lines: a request may use at most %uz "
                           "buckets (a key's own limits count as 8)",
                           apikey::kMaxBuckets);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apikey_merge(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_apikey_loc_conf_t   *prev = static_cast<ngx_http_apikey_loc_conf_t *>(parent);
    ngx_http_apikey_loc_conf_t   *conf = static_cast<ngx_http_apikey_loc_conf_t *>(child);
    ngx_http_apikey_main_conf_t  *mcf;

    // "who am I" needs a checked key: apikey_introspect turns the check on,
    // and refuses to be combined with an explicit "apikey off"
    if (conf->introspect) {
        if (conf->enable == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey_introspect\" cannot be used with \"apikey off\"");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        conf->enable = 1;
    }

    // the admin API checks an admin key the same way (unless auth=off)
    if (conf->admin && conf->admin_auth) {
        if (conf->enable == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey_admin\" cannot be used with \"apikey off\" "
                               "(use \"apikey_admin auth=off;\" if another guard protects it)");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        conf->enable = 1;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->scopes, prev->scopes, NULL);

    if (conf->superscopes_set == NGX_CONF_UNSET) {
        conf->superscopes = prev->superscopes;
        conf->superscopes_set = prev->superscopes_set;
    }

    if (conf->admin && ngx_http_apikey_admin_merge(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 200);
    ngx_conf_merge_value(conf->strip_credentials, prev->strip_credentials, 1);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_INFO);
    if (conf->fail_mode != NGX_CONF_UNSET_UINT && conf->fail_max_age == NGX_CONF_UNSET) {
        conf->fail_max_age = 300;   // a mode set here does not take max_age from above
    }
    ngx_conf_merge_uint_value(conf->fail_mode, prev->fail_mode,
                              static_cast<ngx_uint_t>(NGX_HTTP_APIKEY_FAIL_CLOSED));
    ngx_conf_merge_sec_value(conf->fail_max_age, prev->fail_max_age, 300);
    ngx_conf_merge_value(conf->require_tls, prev->require_tls, 0);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    if (conf->admin || conf->introspect) {
        // managing keys and "who am I" are never opened by a dry run,
        // whatever a server or http level says
        conf->dry_run = 0;
    }
    ngx_conf_merge_value(conf->accept_imported, prev->accept_imported, 0);
    ngx_conf_merge_sec_value(conf->expiry_warning, prev->expiry_warning, 14 * 86400);
    ngx_conf_merge_sec_value(conf->last_used_interval, prev->last_used_interval, 60);

    conf->last_used_arg.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_TIME_T_LEN));
    if (conf->last_used_arg.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    conf->last_used_arg.len = ngx_sprintf(conf->last_used_arg.data, "%T",
                                          conf->last_used_interval)
                              - conf->last_used_arg.data;
    ngx_conf_merge_ptr_value(conf->limit_lines, prev->limit_lines, NULL);

    if (conf->timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"apikey_redis_timeout\" must not be 0");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_http_apikey_build_bucket_sets(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_apikey_module));

    if (ngx_http_apikey_merge_quotas(cf, prev, conf, mcf->topology == NGX_HTTP_APIKEY_CLUSTER)
        != NGX_CONF_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_conf_merge_uint_value(conf->env, prev->env,
                              static_cast<ngx_uint_t>(NGX_HTTP_APIKEY_ENV_ANY));
    ngx_conf_merge_uint_value(conf->ratelimit_headers, prev->ratelimit_headers,
                              static_cast<ngx_uint_t>(NGX_HTTP_APIKEY_RATELIMIT_DRAFT));

    if (conf->bucket_sets) {
        ngx_http_apikey_bucket_set_t *sets =
            static_cast<ngx_http_apikey_bucket_set_t *>(conf->bucket_sets->elts);
        for (ngx_uint_t k = 0; k < conf->bucket_sets->nelts; k++) {
            if (!sets[k].per_owner) {
                continue;
            }
            // the owner's bucket is named by the owner, not the key's hash
            // tag: a script on a Cluster may not touch it
            if (mcf->topology == NGX_HTTP_APIKEY_CLUSTER) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"apikey_limit ... per=owner\" cannot be used with a Redis "
                                   "Cluster: an owner's bucket cannot share the slot of each of "
                                   "its keys' records");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            if (conf->local_limits) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"apikey_limit ... per=owner\" needs store=redis");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
    }

    if (conf->fail_mode == NGX_HTTP_APIKEY_FAIL_CACHED) {
        // the last-known-good records are the cache's entries, and the
        // buckets of the outage are nginx's own
        if (mcf->cache == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey_fail_mode cached\" needs \"apikey_cache "
                               "zone=NAME:SIZE\" in the http block");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (conf->bucket_sets && conf->bucket_sets->nelts && mcf->local == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey_fail_mode cached\" with \"apikey_limit\" needs "
                               "\"apikey_local_limits zone=NAME:SIZE\" in the http block "
                               "(the rate limits while redis is unavailable)");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        mcf->cache->keep = ngx_max(mcf->cache->keep, conf->fail_max_age);
    }

    if (conf->local_limits && mcf->local == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_limit ... store=local\" needs \"apikey_local_limits "
                           "zone=NAME:SIZE\" in the http block");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->admin && mcf->redis.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_admin\" needs \"apikey_redis\" in the http block");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->leak && mcf->redis.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_leak_report\" needs \"apikey_redis\" in the http block");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->leak && conf->enable == 1) {
        // GitHub's reports carry a signature, not an API key
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_leak_report\" cannot be used with \"apikey on\": "
                           "add \"apikey off;\" to its location");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->enable == 1) {

        if (mcf->redis.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey\" is on but no \"apikey_redis\" is configured "
                               "in the http block");
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        mcf->used = 1;
    }

    return NGX_CONF_OK;
}


// apikey_fail_mode closed | open | cached [max_age=TIME]
static char *
ngx_http_apikey_fail_mode_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    auto       *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);
    ngx_str_t  *value = static_cast<ngx_str_t *>(cf->args->elts);
    ngx_str_t   s;

    if (lcf->fail_mode != NGX_CONF_UNSET_UINT) {
        return const_cast<char *>("is duplicate");
    }

    if (ngx_strcmp(value[1].data, "closed") == 0) {
        lcf->fail_mode = NGX_HTTP_APIKEY_FAIL_CLOSED;
    } else if (ngx_strcmp(value[1].data, "open") == 0) {
        lcf->fail_mode = NGX_HTTP_APIKEY_FAIL_OPEN;
    } else if (ngx_strcmp(value[1].data, "cached") == 0) {
        lcf->fail_mode = NGX_HTTP_APIKEY_FAIL_CACHED;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"closed\", \"open\" or \"cached\"",
                           &value[1], &cmd->name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (lcf->fail_mode != NGX_HTTP_APIKEY_FAIL_CACHED
        || value[2].len < 8 || ngx_strncmp(value[2].data, "max_age=", 8) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[2]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    s.data = value[2].data + 8;
    s.len = value[2].len - 8;
    lcf->fail_max_age = ngx_parse_time(&s, 1);
    if (lcf->fail_max_age == static_cast<time_t>(NGX_ERROR) || lcf->fail_max_age == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid max_age \"%V\"", &value[2]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


static bool
ngx_http_apikey_starts_with(const ngx_str_t &s, const char *prefix, size_t len)
{
    return s.len >= len && ngx_strncmp(s.data, prefix, len) == 0;
}


static ngx_str_t
ngx_http_apikey_cstring(ngx_pool_t *pool, u_char *data, size_t len)
{
    ngx_str_t  s = ngx_null_string;

    s.data = static_cast<u_char *>(ngx_pnalloc(pool, len + 1));
    if (s.data != NULL) {
        ngx_memcpy(s.data, data, len);
        s.data[len] = '\0';
        s.len = len;
    }

    return s;
}


// Resolves "host[:port]" once, at load time (the request path must never wait
// for DNS), to a numeric address.
static ngx_int_t
ngx_http_apikey_resolve(ngx_conf_t *cf, ngx_str_t url, in_port_t default_port, ngx_str_t *host,
    ngx_int_t *port)
{
    u_char     text[NGX_SOCKADDR_STRLEN];
    size_t     len;
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = url;
    u.default_port = default_port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\": %s",
                           &url, u.err ? u.err : "host not found");
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text, NGX_SOCKADDR_STRLEN, 0);
    if (u.addrs[0].sockaddr->sa_family == AF_INET6 && len > 2) {
        *host = ngx_http_apikey_cstring(cf->pool, text + 1, len - 2);   // strip []
    } else {
        *host = ngx_http_apikey_cstring(cf->pool, text, len);
    }
    if (host->data == NULL) {
        return NGX_ERROR;
    }
    *port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_OK;
}


// sentinel=H:P,H:P or cluster=H:P,H:P: every address of the list, resolved.
static ngx_int_t
ngx_http_apikey_seed_list(ngx_conf_t *cf, ngx_http_apikey_main_conf_t *mcf, ngx_str_t list,
    in_port_t default_port)
{
    u_char                  *p, *last, *comma;
    ngx_str_t                one;
    ngx_http_apikey_seed_t  *seed;

    mcf->seeds = ngx_array_create(cf->pool, 4, sizeof(ngx_http_apikey_seed_t));
    if (mcf->seeds == NULL) {
        return NGX_ERROR;
    }

    p = list.data;
    last = list.data + list.len;

    for ( ;; ) {
        comma = static_cast<u_char *>(ngx_strlchr(p, last, ','));
        one.data = p;
        one.len = (comma ? comma : last) - p;

        if (one.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty address in \"%V\"", &list);
            return NGX_ERROR;
        }

        seed = static_cast<ngx_http_apikey_seed_t *>(ngx_array_push(mcf->seeds));
        if (seed == NULL
            || ngx_http_apikey_resolve(cf, one, default_port, &seed->host, &seed->port) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (comma == NULL) {
            return NGX_OK;
        }
        p = comma + 1;
    }
}


// apikey_redis host:port | unix:/path
//              | sentinel=HOST:PORT[,HOST:PORT...] master=NAME [sentinel_password=SECRET]
//              | cluster=HOST:PORT[,HOST:PORT...]
//              [db=N] [user=NAME] [password=SECRET] [prefix=STRING]
//              [tls [tls_ca=FILE] [tls_cert=FILE tls_key=FILE] [tls_name=NAME]
//                   [tls_verify=on|off]];
static char *ngx_http_apikey_redis_tls(ngx_conf_t *cf, ngx_http_apikey_main_conf_t *mcf);

static char *
ngx_http_apikey_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t  *mcf = static_cast<ngx_http_apikey_main_conf_t *>(conf);

    ngx_str_t  *value, list;
    ngx_uint_t  i;

    if (mcf->redis.len) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);
    mcf->redis = value[1];
    mcf->topology = NGX_HTTP_APIKEY_SINGLE;

    if (ngx_http_apikey_starts_with(value[1], "sentinel=", 9)) {
        mcf->topology = NGX_HTTP_APIKEY_SENTINEL;
        list.data = value[1].data + 9;
        list.len = value[1].len - 9;
        if (ngx_http_apikey_seed_list(cf, mcf, list, 26379) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

    } else if (ngx_http_apikey_starts_with(value[1], "cluster=", 8)) {
        mcf->topology = NGX_HTTP_APIKEY_CLUSTER;
        list.data = value[1].data + 8;
        list.len = value[1].len - 8;
        if (ngx_http_apikey_seed_list(cf, mcf, list, 6379) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

    } else if (ngx_http_apikey_starts_with(value[1], "unix:", 5)) {
        if (value[1].len == 5) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\"", &value[1]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        mcf->unix_path = ngx_http_apikey_cstring(cf->pool, value[1].data + 5, value[1].len - 5);
        if (mcf->unix_path.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

    } else if (ngx_http_apikey_resolve(cf, value[1], 6379, &mcf->host, &mcf->port) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_http_apikey_tls_t  tls;
    ngx_flag_t             tls_on = 0, tls_given = 0;

    ngx_memzero(&tls, sizeof(tls));
    tls.verify = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "tls", 3) == 0) {
            tls_on = 1;
            continue;
        }

        {
            static const struct {
                const char  *name;
                size_t       len;
                size_t       offset;
            } files[] = {
                { "tls_ca=", 7, offsetof(ngx_http_apikey_tls_t, ca) },
                { "tls_cert=", 9, offsetof(ngx_http_apikey_tls_t, cert) },
                { "tls_key=", 8, offsetof(ngx_http_apikey_tls_t, key) },
                { "tls_name=", 9, offsetof(ngx_http_apikey_tls_t, name) },
            };
            bool matched = false;
            for (const auto &f : files) {
                if (!ngx_http_apikey_starts_with(value[i], f.name, f.len)) {
                    continue;
                }
                if (value[i].len == f.len) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty \"%s\"", f.name);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
                auto *field = reinterpret_cast<ngx_str_t *>(reinterpret_cast<u_char *>(&tls)
                                                            + f.offset);
                *field = ngx_http_apikey_cstring(cf->pool, value[i].data + f.len,
                                                 value[i].len - f.len);
                if (field->data == NULL) {
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
                matched = true;
                tls_given = 1;
            }
            if (matched) {
                continue;
            }
        }

        if (ngx_http_apikey_starts_with(value[i], "tls_verify=", 11)) {
            std::string_view v(reinterpret_cast<const char *>(value[i].data + 11),
                               value[i].len - 11);
            if (v != "on" && v != "off") {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": \"tls_verify=\" takes \"on\" or \"off\"",
                                   &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            tls.verify = v == "on";
            tls_given = 1;
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "user=", 5)) {
            if (value[i].len == 5) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty redis user");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            mcf->user = ngx_http_apikey_cstring(cf->pool, value[i].data + 5, value[i].len - 5);
            if (mcf->user.data == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "db=", 3)) {
            mcf->db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (mcf->db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid db \"%V\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "password=", 9)) {
            if (value[i].len == 9) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty redis password");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            mcf->password = ngx_http_apikey_cstring(cf->pool, value[i].data + 9,
                                                    value[i].len - 9);
            if (mcf->password.data == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "master=", 7)
            && mcf->topology == NGX_HTTP_APIKEY_SENTINEL)
        {
            if (value[i].len == 7) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty master name");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            mcf->master_name = ngx_http_apikey_cstring(cf->pool, value[i].data + 7,
                                                       value[i].len - 7);
            if (mcf->master_name.data == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "sentinel_password=", 18)
            && mcf->topology == NGX_HTTP_APIKEY_SENTINEL)
        {
            if (value[i].len == 18) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty sentinel password");
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            mcf->sentinel_password = ngx_http_apikey_cstring(cf->pool, value[i].data + 18,
                                                             value[i].len - 18);
            if (mcf->sentinel_password.data == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "prefix=", 7)) {
            std::string_view prefix(reinterpret_cast<const char *>(value[i].data + 7),
                                    value[i].len - 7);
            if (!apikey::valid_prefix(prefix)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid prefix \"%V\": printable characters without "
                                   "spaces, \"{\" or \"}\", at most 64", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            mcf->prefix.data = value[i].data + 7;
            mcf->prefix.len = value[i].len - 7;
            continue;
        }

        // never echo the argument: it may be a mistyped password
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter %ui of \"apikey_redis\" (expected %sdb=, "
                           "user=, password=, prefix=, tls or tls_*=)", i,
                           mcf->topology == NGX_HTTP_APIKEY_SENTINEL
                           ? "master=, sentinel_password=, " : "");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (mcf->db == NGX_CONF_UNSET) {
        mcf->db = 0;
    }

    if (mcf->topology == NGX_HTTP_APIKEY_SENTINEL && mcf->master_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_redis sentinel=...\" needs \"master=NAME\"");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (mcf->topology == NGX_HTTP_APIKEY_CLUSTER && mcf->db != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "Redis Cluster has only database 0 (no \"db=\")");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (mcf->user.len && mcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apikey_redis ... user=\" needs \"password=\" (AUTH user password)");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (tls_given && !tls_on) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_*=\" parameters of \"apikey_redis\" need \"tls\"");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (!tls_on) {
        return NGX_CONF_OK;
    }

    if ((tls.cert.len == 0) != (tls.key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_cert=\" and \"tls_key=\" of \"apikey_redis\" go together");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    mcf->tls = static_cast<ngx_http_apikey_tls_t *>(ngx_pcalloc(cf->pool, sizeof(tls)));
    if (mcf->tls == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    *mcf->tls = tls;

    return ngx_http_apikey_redis_tls(cf, mcf);
}


// The TLS context of every Redis connection, made (and its certificates and
// keys read) now, at configuration time, the way proxy_ssl_* does it: nothing
// on the request path ever reads a file.
static char *
ngx_http_apikey_redis_tls(ngx_conf_t *cf, ngx_http_apikey_main_conf_t *mcf)
{
#if (NGX_SSL)
    ngx_http_apikey_tls_t  *tls = mcf->tls;
    ngx_pool_cleanup_t     *cln;

    tls->ssl.log = cf->log;

    if (ngx_ssl_create(&tls->ssl, NGX_SSL_TLSv1_2 | NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(&tls->ssl);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = &tls->ssl;

    if (tls->cert.len
        && ngx_ssl_certificate(cf, &tls->ssl, &tls->cert, &tls->key, NULL) != NGX_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (tls->verify) {
        // the handshake itself never fails on the certificate (verify mode
        // stays SSL_VERIFY_NONE, as with proxy_ssl_verify): the client checks
        // the result once the handshake is done and says why in one line
        if (ngx_ssl_trusted_certificate(cf, &tls->ssl, &tls->ca, 9) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        if (tls->ca.len == 0 && SSL_CTX_set_default_verify_paths(tls->ssl.ctx) != 1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          const_cast<char *>("apikey_redis: cannot load the system's CA "
                                             "certificates (give \"tls_ca=\")"));
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    return NGX_CONF_OK;
#else
    (void) mcf;
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"apikey_redis ... tls\" needs nginx built with OpenSSL "
                       "(--with-http_ssl_module)");
    return static_cast<char *>(NGX_CONF_ERROR);
#endif
}


static ngx_uint_t
ngx_http_apikey_method(const ngx_str_t &name)
{
    static const struct {
        const char  *name;
        ngx_uint_t   mask;
    } methods[] = {
        { "GET", NGX_HTTP_GET }, { "HEAD", NGX_HTTP_HEAD }, { "POST", NGX_HTTP_POST },
        { "PUT", NGX_HTTP_PUT }, { "DELETE", NGX_HTTP_DELETE }, { "PATCH", NGX_HTTP_PATCH },
        { "OPTIONS", NGX_HTTP_OPTIONS }, { "MKCOL", NGX_HTTP_MKCOL },
        { "COPY", NGX_HTTP_COPY }, { "MOVE", NGX_HTTP_MOVE },
        { "PROPFIND", NGX_HTTP_PROPFIND }, { "PROPPATCH", NGX_HTTP_PROPPATCH },
        { "LOCK", NGX_HTTP_LOCK }, { "UNLOCK", NGX_HTTP_UNLOCK },
        { "TRACE", NGX_HTTP_TRACE },
    };

    for (const auto &m : methods) {
        if (ngx_strlen(m.name) == name.len
            && ngx_strncmp(name.data, m.name, name.len) == 0)
        {
            return m.mask;
        }
    }

    return 0;
}


// apikey_scope SCOPE [METHOD ...];
static char *
ngx_http_apikey_scope_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);

    ngx_str_t                         *value;
    ngx_uint_t                         i, mask;
    ngx_http_apikey_scope_line_t      *line;
    ngx_http_compile_complex_value_t   ccv;

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (lcf->scopes == NGX_CONF_UNSET_PTR) {
        lcf->scopes = ngx_array_create(cf->pool, 2, sizeof(ngx_http_apikey_scope_line_t));
        if (lcf->scopes == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    line = static_cast<ngx_http_apikey_scope_line_t *>(ngx_array_push(lcf->scopes));
    if (line == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_memzero(line, sizeof(ngx_http_apikey_scope_line_t));

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &line->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    // a constant scope is checked now; one with variables when it is evaluated
    if (line->value.lengths == NULL
        && !apikey::valid_scope_list(std::string_view(
               reinterpret_cast<const char *>(value[1].data), value[1].len)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid scope \"%V\": scopes are printable ASCII without "
                           "spaces, quotes or backslashes, at most 128 characters", &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    for (i = 2; i < cf->args->nelts; i++) {
        mask = ngx_http_apikey_method(value[i]);
        if (mask == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid method \"%V\"", &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        line->methods |= mask;
    }

    return NGX_CONF_OK;
}


// apikey_superscope SCOPE ...;
static char *
ngx_http_apikey_superscope_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);

    ngx_str_t    *value;
    ngx_uint_t    i;
    std::string   joined;

    if (lcf->superscopes_set != NGX_CONF_UNSET) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    for (i = 1; i < cf->args->nelts; i++) {
        std::string_view scope(reinterpret_cast<const char *>(value[i].data), value[i].len);
        if (!apikey::valid_scope(scope)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid scope \"%V\"", &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (!joined.empty()) {
            joined.push_back(' ');
        }
        joined.append(scope);
    }

    lcf->superscopes = ngx_http_apikey_cstring(cf->pool,
                                               reinterpret_cast<u_char *>(joined.data()),
                                               joined.size());
    if (lcf->superscopes.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    lcf->superscopes_set = 1;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_apikey_set_param(ngx_conf_t *cf, ngx_str_t *value, ngx_flag_t *per_owner,
    ngx_str_t *bucket)
{
    if (ngx_http_apikey_starts_with(*value, "per=", 4)) {
        if (ngx_strcmp(value->data + 4, "owner") == 0) {
            *per_owner = 1;
        } else if (ngx_strcmp(value->data + 4, "key") == 0) {
            *per_owner = 0;
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid per \"%V\" (expected key or owner)", value);
            return NGX_ERROR;
        }
        return NGX_OK;
    }

    if (ngx_http_apikey_starts_with(*value, "bucket=", 7)) {
        bucket->data = value->data + 7;
        bucket->len = value->len - 7;
        if (!apikey::valid_bucket_name(ngx_http_apikey_sv(*bucket))) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid bucket name \"%V\": letters, digits, \"_\" "
                               "and \"-\", at most 64", value);
            return NGX_ERROR;
        }
        return NGX_OK;
    }

    return NGX_DECLINED;
}


// apikey_limit RATE [burst=N] [bucket=NAME]; | apikey_limit off;
static char *
ngx_http_apikey_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);

    ngx_str_t                     *value;
    ngx_int_t                      burst;
    ngx_uint_t                     i;
    ngx_http_apikey_limit_line_t  *line, *lines;

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (lcf->limit_lines != NGX_CONF_UNSET_PTR) {
            return const_cast<char *>("is duplicate, or mixed with rate lines");
        }
        lcf->limit_lines = ngx_array_create(cf->pool, 1, sizeof(ngx_http_apikey_limit_line_t));
        return lcf->limit_lines ? NGX_CONF_OK : static_cast<char *>(NGX_CONF_ERROR);
    }

    if (lcf->limit_lines == NGX_CONF_UNSET_PTR) {
        lcf->limit_lines = ngx_array_create(cf->pool, 2, sizeof(ngx_http_apikey_limit_line_t));
        if (lcf->limit_lines == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } else if (lcf->limit_lines->nelts == 0) {
        return const_cast<char *>("cannot be combined with \"apikey_limit off\"");
    }

    auto rate = apikey::parse_rate(std::string_view(
        reinterpret_cast<const char *>(value[1].data), value[1].len));
    if (!rate) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"%V\" (expected Nr/s, Nr/m, Nr/h or Nr/d)",
                           &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    apikey::Limit limit = *rate;
    ngx_str_t bucket = ngx_string("default");
    ngx_flag_t local = 0;
    ngx_flag_t per_owner = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_apikey_starts_with(value[i], "burst=", 6)) {
            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (burst <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid burst value \"%V\"",
                                   &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            limit.burst = burst;
            continue;
        }

        if (ngx_http_apikey_starts_with(value[i], "store=", 6)) {
            if (ngx_strcmp(value[i].data + 6, "local") == 0) {
                local = 1;
            } else if (ngx_strcmp(value[i].data + 6, "redis") == 0) {
                local = 0;
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid store \"%V\" (expected redis or local)", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }

        switch (ngx_http_apikey_set_param(cf, &value[i], &per_owner, &bucket)) {
        case NGX_OK:
            continue;
        case NGX_ERROR:
            return static_cast<char *>(NGX_CONF_ERROR);
        default:
            break;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    std::string problem = apikey::finish_limit(limit);
    if (!problem.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid limit \"%V\": %s", &value[1],
                           problem.c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    lines = static_cast<ngx_http_apikey_limit_line_t *>(lcf->limit_lines->elts);
    for (i = 0; i < lcf->limit_lines->nelts; i++) {
        if (lines[i].count == limit.count && lines[i].unit == limit.unit
            && lines[i].burst == limit.burst && lines[i].per_owner == per_owner
            && lines[i].bucket.len == bucket.len
            && ngx_strncmp(lines[i].bucket.data, bucket.data, bucket.len) == 0)
        {
            return const_cast<char *>("is duplicate");
        }
    }

    line = static_cast<ngx_http_apikey_limit_line_t *>(ngx_array_push(lcf->limit_lines));
    if (line == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    line->count = limit.count;
    line->unit = static_cast<u_char>(limit.unit);
    line->burst = limit.burst;
    line->bucket = bucket;
    line->local = local;
    line->per_owner = per_owner;

    return NGX_CONF_OK;
}


char *
ngx_http_apikey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    try {
        return ngx_http_apikey_merge(cf, parent, child);
    } catch (...) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "apikey: out of memory");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


ngx_shm_zone_t *
ngx_http_apikey_shared_zone(ngx_conf_t *cf, ngx_str_t *arg)
{
    u_char          *colon;
    ssize_t          size;
    ngx_str_t        name, s;
    ngx_shm_zone_t  *zone;

    if (!ngx_http_apikey_starts_with(*arg, "zone=", 5)
        || (colon = (u_char *) ngx_strlchr(arg->data + 5, arg->data + arg->len, ':')) == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" (expected zone=NAME:SIZE)", arg);
        return NULL;
    }

    name.data = arg->data + 5;
    name.len = colon - name.data;
    s.data = colon + 1;
    s.len = arg->data + arg->len - s.data;
    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid zone size \"%V\"", arg);
        return NULL;
    }

    if (size < static_cast<ssize_t>(8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "zone \"%V\" is too small", arg);
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_apikey_module);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "zone \"%V\" is already used", &name);
        return NULL;
    }

    return zone;
}


// apikey_hash_secret /path/to/file;
//
// The file holds the HMAC key (surrounding whitespace ignored). It is read
// here, once, by the master: the request path never touches the file system,
// and the secret never appears in nginx.conf or in any log line.
static char *
ngx_http_apikey_hash_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t  *mcf = static_cast<ngx_http_apikey_main_conf_t *>(conf);

    u_char      *start, *end;
    ssize_t      n;
    ngx_str_t   *value, path;
    ngx_file_t   file;
    u_char       buf[4096];

    if (mcf->hash_secret.data) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;
    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, ngx_open_file_n " \"%s\" failed",
                           path.data);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    n = ngx_read_file(&file, buf, sizeof(buf), 0);
    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    start = buf;
    end = buf + n;
    while (start < end && (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')) {
        start++;
    }
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'
                           || end[-1] == '\n'))
    {
        end--;
    }

    if (end - start < 16 || n == static_cast<ssize_t>(sizeof(buf))) {
        ngx_explicit_memzero(buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the secret in \"%s\" must be between 16 and 4000 bytes",
                           path.data);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    mcf->hash_secret.len = end - start;
    mcf->hash_secret.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, mcf->hash_secret.len));
    if (mcf->hash_secret.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_memcpy(mcf->hash_secret.data, start, mcf->hash_secret.len);
    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_CONF_OK;
}
