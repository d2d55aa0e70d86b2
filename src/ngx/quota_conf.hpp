// apikey_quota and apikey_cost: calendar quotas and the credits a request
// takes, as directives, and as the check script's arguments.
#pragma once

#include "ngx_http_apikey_module.hpp"

// apikey_quota N/day|week|month [per=key|owner] [bucket=NAME]; | apikey_quota off;
char *ngx_http_apikey_quota_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

// At merge: inherits the lines and renders them once as the script's
// argument ("K:default:1000/day FO:export:50/month"), and apikey_cost's.
char *ngx_http_apikey_merge_quotas(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *prev,
    ngx_http_apikey_loc_conf_t *conf, bool cluster);
