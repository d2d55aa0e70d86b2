#include "quota_conf.hpp"

#include <string>

#include "check_script.hpp"
#include "keyspace.hpp"
#include "quota.hpp"

char *
ngx_http_apikey_quota_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_apikey_quota_line_t  *line, *lines;

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (lcf->quota_lines != NGX_CONF_UNSET_PTR) {
            return const_cast<char *>("is duplicate, or mixed with quota lines");
        }
        lcf->quota_lines = ngx_array_create(cf->pool, 1, sizeof(ngx_http_apikey_quota_line_t));
        return lcf->quota_lines ? NGX_CONF_OK : static_cast<char *>(NGX_CONF_ERROR);
    }

    if (lcf->quota_lines == NGX_CONF_UNSET_PTR) {
        lcf->quota_lines = ngx_array_create(cf->pool, 2, sizeof(ngx_http_apikey_quota_line_t));
        if (lcf->quota_lines == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } else if (lcf->quota_lines->nelts == 0) {
        return const_cast<char *>("cannot be combined with \"apikey_quota off\"");
    }

    std::string error;
    auto quota = apikey::parse_quota(ngx_http_apikey_sv(value[1]), error);
    if (!quota) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid quota \"%V\": %s", &value[1],
                           error.c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_str_t bucket = ngx_string("default");
    ngx_flag_t per_owner = 0;

    for (i = 2; i < cf->args->nelts; i++) {

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

    // one count per set and period: two lines would share one counter
    lines = static_cast<ngx_http_apikey_quota_line_t *>(lcf->quota_lines->elts);
    for (i = 0; i < lcf->quota_lines->nelts; i++) {
        if (lines[i].period == static_cast<ngx_uint_t>(quota->period)
            && lines[i].bucket.len == bucket.len
            && ngx_strncmp(lines[i].bucket.data, bucket.data, bucket.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "bucket \"%V\" has a \"%s\" quota already", &bucket,
                               std::string(apikey::quota_period_word(quota->period)).c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (lines[i].bucket.len == bucket.len
            && ngx_strncmp(lines[i].bucket.data, bucket.data, bucket.len) == 0
            && lines[i].per_owner != per_owner)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"apikey_quota\" lines of bucket \"%V\" must all say the "
                               "same \"per=\"", &bucket);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    if (lcf->quota_lines->nelts >= apikey::kMaxLocationQuotas) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "at most %uz \"apikey_quota\" lines apply "
                           "to a location", apikey::kMaxLocationQuotas);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    line = static_cast<ngx_http_apikey_quota_line_t *>(ngx_array_push(lcf->quota_lines));
    if (line == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    line->count = quota->count;
    line->period = static_cast<ngx_uint_t>(quota->period);
    line->bucket = bucket;
    line->per_owner = per_owner;

    return NGX_CONF_OK;
}


char *
ngx_http_apikey_merge_quotas(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *prev,
    ngx_http_apikey_loc_conf_t *conf, bool cluster)
{
    ngx_uint_t                     i;
    ngx_http_apikey_quota_line_t  *lines;

    ngx_conf_merge_ptr_value(conf->quota_lines, prev->quota_lines, NULL);
    ngx_conf_merge_value(conf->cost, prev->cost, 1);

    // "who am I" shows the quotas and credits without using them
    std::string cost = conf->introspect == 1 ? "peek" : std::to_string(conf->cost);
    conf->cost_arg.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, cost.size()));
    if (conf->cost_arg.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    conf->cost_arg.len = cost.size();
    ngx_memcpy(conf->cost_arg.data, cost.data(), cost.size());

    ngx_str_null(&conf->quota_spec);
    if (conf->quota_lines == NULL || conf->quota_lines->nelts == 0) {
        return NGX_CONF_OK;
    }

    // "K" items give way to a key's own quotas (the default set), as the
    // default bucket set's lines give way to its own limits
    std::string spec;
    lines = static_cast<ngx_http_apikey_quota_line_t *>(conf->quota_lines->elts);
    for (i = 0; i < conf->quota_lines->nelts; i++) {
        std::string_view set = ngx_http_apikey_sv(lines[i].bucket);
        if (lines[i].per_owner && cluster) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"apikey_quota ... per=owner\" cannot be used with a Redis "
                               "Cluster: an owner's count cannot share the slot of each of "
                               "its keys' records");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (!spec.empty()) {
            spec.push_back(' ');
        }
        spec.push_back(set == apikey::kDefaultBucket ? apikey::kBucketSetOverridable
                                                      : apikey::kBucketSetFixed);
        if (lines[i].per_owner) {
            spec.push_back(apikey::kQuotaPerOwner);
        }
        spec.push_back(':');
        spec.append(set);
        spec.push_back(':');
        spec += apikey::Quota{lines[i].count,
                              static_cast<apikey::QuotaPeriod>(lines[i].period)}.to_string();
    }

    conf->quota_spec.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, spec.size()));
    if (conf->quota_spec.data == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    conf->quota_spec.len = spec.size();
    ngx_memcpy(conf->quota_spec.data, spec.data(), spec.size());

    return NGX_CONF_OK;
}
