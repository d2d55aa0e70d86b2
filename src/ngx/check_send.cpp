// Building a request's check: the scopes it needs, and the script call that
// asks Redis (check_reply.cpp applies the reply, check_wait.cpp resumes the
// request).
#include "check.hpp"
#include "guard.hpp"

#include <array>
#include <string>

#include "check_batch.hpp"
#include "cidr.hpp"
#include "keyspace.hpp"
#include "metrics.hpp"
#include "redis_call.hpp"
#include "redis_topology.hpp"
#include "scope.hpp"
#include "topology.hpp"

using apikey::RedisClient;


// The scopes every `apikey_scope` line matching this method names, joined by
// spaces. Lines whose value is empty (a map that says "nothing needed here")
// require nothing. When every line names methods and none names this one
// (PURGE, PROPFIND, OPTIONS where only GET and POST are named), the request
// needs a scope no key can hold: only a superscope lets it through. An
// unlisted method is a method nobody thought about, not a free one.
ngx_int_t
ngx_http_apikey_required_scopes(ngx_http_request_t *r, ngx_http_apikey_loc_conf_t *lcf,
    ngx_str_t *out)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                     *values;
    ngx_uint_t                     i, n, method;
    bool                           named;
    ngx_http_apikey_scope_line_t  *lines;

    ngx_str_null(out);

    if (lcf->scopes == NULL || lcf->scopes->nelts == 0) {
        return NGX_OK;
    }

    // GET lines cover HEAD, as limit_except does
    method = (r->method == NGX_HTTP_HEAD) ? (NGX_HTTP_GET | NGX_HTTP_HEAD) : r->method;

    lines = static_cast<ngx_http_apikey_scope_line_t *>(lcf->scopes->elts);
    values = static_cast<ngx_str_t *>(ngx_pcalloc(r->pool,
                                                  lcf->scopes->nelts * sizeof(ngx_str_t)));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = 0;
    n = 0;
    named = false;

    for (i = 0; i < lcf->scopes->nelts; i++) {
        if (lines[i].methods && !(lines[i].methods & method)) {
            continue;
        }

        named = true;

        if (ngx_http_complex_value(r, &lines[i].value, &values[n]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (values[n].len == 0) {
            continue;
        }

        if (!apikey::valid_scope_list(std::string_view(
                reinterpret_cast<const char *>(values[n].data), values[n].len)))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "apikey: \"apikey_scope\" evaluated to an invalid scope list \"%V\"",
                          &values[n]);
            return NGX_ERROR;
        }

        len += values[n].len + 1;
        n++;
    }

    if (!named) {
        out->data = reinterpret_cast<u_char *>(
            const_cast<char *>(apikey::kUnlistedMethodScope.data()));
        out->len = apikey::kUnlistedMethodScope.size();
        return NGX_OK;
    }

    if (n == 0) {
        return NGX_OK;
    }

    p = static_cast<u_char *>(ngx_pnalloc(r->pool, len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ' ';
        }
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


// Sends the script: "check" (record and buckets) or, after a cache hit,
// "limit" (buckets only). Returns NGX_AGAIN while waiting, NGX_ERROR when
// Redis is not usable now (the caller answers 503), or
// NGX_HTTP_INTERNAL_SERVER_ERROR.
ngx_int_t
ngx_http_apikey_send_check(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, bool limit_only, bool record_use)
{
    int                            argc, i;
    char                           numkeys[NGX_INT_T_LEN];
    char                           deadline[NGX_INT64_LEN];
    ngx_uint_t                     nsets, k;
    apikey::RedisCall             *call;
    apikey::RedisTopology         *redis;
    ngx_http_apikey_main_conf_t   *mcf;
    ngx_http_apikey_bucket_set_t  *sets;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    redis = ngx_http_apikey_redis();
    if (redis == NULL) {
        return NGX_ERROR;
    }

    std::string_view prefix(reinterpret_cast<const char *>(mcf->prefix.data), mcf->prefix.len);
    std::string_view key_id(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len);

    // store=local buckets are taken in nginx, not sent
    nsets = (lcf->bucket_sets && !lcf->local_limits) ? lcf->bucket_sets->nelts : 0;
    sets = nsets ? static_cast<ngx_http_apikey_bucket_set_t *>(lcf->bucket_sets->elts) : NULL;

    // the quota counts' hash, when they may be counted (check_script.cpp:
    // declared but absent, it would stall a check during a slot migration)
    bool quota_key = lcf->quota_spec.len || (limit_only && ctx->own_quota.len);
    ngx_uint_t nkeys = 1 + nsets + (quota_key ? 1 : 0);

    // EVALSHA sha numkeys record bucket... [quota] mode arg2 arg3 arg4 arg5
    // deadline prefix env client spec... quotas cost
    argc = static_cast<int>(3 + nkeys + 9 + nsets + 2);

    auto *args = static_cast<std::string_view *>(
        ngx_palloc(r->pool, argc * sizeof(std::string_view)));
    if (args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    // arguments point at configuration or request data, or are copied into
    // the request pool; all live until the command is formatted below
    i = 0;
    auto push = [&](const void *data, size_t len) {
        args[i++] = std::string_view(len ? static_cast<const char *>(data) : "", len);
    };
    auto push_copy = [&](std::string_view s) {
        u_char *copy = static_cast<u_char *>(ngx_pnalloc(r->pool, s.size() + 1));
        if (copy == NULL) {
            return false;
        }
        ngx_memcpy(copy, s.data(), s.size());
        push(copy, s.size());
        return true;
    };
    // a key name written straight into the pool: no std::string per request
    auto push_name = [&](const apikey::KeyName &name) {
        u_char *copy = static_cast<u_char *>(ngx_pnalloc(r->pool, name.size() + 1));
        if (copy == NULL) {
            return false;
        }
        u_char *p = copy;
        for (auto part : name.parts) {
            p = part.empty() ? p : ngx_cpymem(p, part.data(), part.size());
        }
        push(copy, p - copy);
        return true;
    };

    push("EVALSHA", 7);
    push(mcf->script_sha.data, mcf->script_sha.len);

    u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(numkeys), "%ui", nkeys);
    bool ok = push_copy(std::string_view(numkeys, end - reinterpret_cast<u_char *>(numkeys)))
              && push_name(apikey::record_key_name(prefix, key_id));
    std::string_view record = ok ? args[i - 1] : std::string_view();

    for (k = 0; ok && k < nsets; k++) {
        std::string_view bucket(reinterpret_cast<const char *>(sets[k].name.data),
                                sets[k].name.len);
        ok = push_name(apikey::bucket_key_name(prefix, key_id, bucket));
    }
    if (quota_key) {
        ok = ok && push_name(apikey::quota_key_name(prefix, key_id));
    }

    if (limit_only) {
        push("limit", 5);
        push(ctx->own_limits.data, ctx->own_limits.len);
        push(ctx->owner.data, ctx->owner.len);
        push(ctx->own_quota.data, ctx->own_quota.len);
        push(record_use ? "1" : "0", 1);

    } else {
        push("check", 5);
        push(ctx->digest.data, ctx->digest.len);
        push(ctx->required.data, ctx->required.len);
        push(lcf->superscopes.data, lcf->superscopes.len);
        push(lcf->last_used_arg.data, lcf->last_used_arg.len);
    }

    // past this, the request has had its 503: the script then changes nothing
    u_char *dend = ngx_sprintf(reinterpret_cast<u_char *>(deadline), "%L",
                               ngx_http_apikey_deadline_ms(lcf->timeout));
    ok = ok && push_copy(std::string_view(deadline, dend - reinterpret_cast<u_char *>(deadline)));

    // keys named by value (owner buckets, the last-used index): never on a
    // Cluster, where the script may touch only the record's slot
    if (mcf->topology == NGX_HTTP_APIKEY_CLUSTER) {
        push("", 0);
    } else {
        push(mcf->prefix.data, mcf->prefix.len);
    }

    switch (lcf->env) {
    case NGX_HTTP_APIKEY_ENV_LIVE:
        push("live", 4);
        break;
    case NGX_HTTP_APIKEY_ENV_TEST:
        push("test", 4);
        break;
    default:
        push("", 0);
    }

    // the client address ($remote_addr: after real_ip) for the key's allow_ip
    // ("limit" mode: whether the key keeps credits)
    std::array<char, 32> client;
    if (limit_only) {
        push(ctx->has_credits ? "C" : "", ctx->has_credits ? 1 : 0);
    } else if (apikey::ip_address_hex(ngx_http_apikey_sv(r->connection->addr_text), &client)) {
        ok = ok && push_copy(std::string_view(client.data(), client.size()));
    } else {
        push("", 0);
    }

    for (k = 0; k < nsets; k++) {
        push(sets[k].spec.data, sets[k].spec.len);
    }

    push(lcf->quota_spec.data, lcf->quota_spec.len);
    push(lcf->cost_arg.data, lcf->cost_arg.len);

    if (!ok) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_t command = ngx_http_apikey_format_command(r->pool, args, i);
    if (command.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->limit_only = limit_only;

    // what a batch sends of this check: its keys and arguments
    ctx->check_args = args + 3;
    ctx->check_nkeys = nkeys;
    ctx->check_nargs = i - 3 - ctx->check_nkeys;

    call = ngx_http_apikey_call_create(ctx, ngx_http_apikey_check_done, command,
                                       apikey::key_slot(record), true);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    call->batch = ngx_http_apikey_batch_check;

    if (!ngx_http_apikey_call_send(call)) {
        return NGX_ERROR;
    }

    ctx->call = call;
    ctx->state = NGX_HTTP_APIKEY_WAITING;
    ctx->in_flight = 1;
    ngx_http_apikey_count(in_flight, 1);

    ctx->wake.handler = ngx_http_apikey_guard<ngx_http_apikey_wake_handler>;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;
    ngx_add_timer(&ctx->wake, lcf->timeout);

    return NGX_AGAIN;
}


// After a cache hit that needs no script: write the key's last use, at most
// once per apikey_last_used_interval (the cache entry decides), without waiting.
void
ngx_http_apikey_record_use(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    apikey::RedisTopology        *redis = ngx_http_apikey_redis();
    RedisClient                  *to;
    ngx_http_apikey_main_conf_t  *mcf;

    if (redis == NULL) {
        return;
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    std::string key = apikey::record_key(
        std::string_view(reinterpret_cast<const char *>(mcf->prefix.data), mcf->prefix.len),
        std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len));

    // HSET would re-create a deleted record: only touch one that exists. The
    // time is Redis's, as the check script writes it; the last-used index
    // follows, as in the script (not on a Cluster: another slot).
    const char *argv[] = {"EVAL",
                          "if redis.call('EXISTS', KEYS[1]) == 1 then "
                          "local t = redis.call('TIME')[1] "
                          "redis.call('HSET', KEYS[1], 'last_used', t) "
                          "if ARGV[1] ~= '' then redis.call('ZADD', ARGV[1] .. 'idx:last_used', "
                          "t, ARGV[2]) end end",
                          "1", key.c_str(), "", ""};
    size_t lens[] = {4, ngx_strlen(argv[1]), 1, key.size(), 0, 0};
    if (mcf->topology != NGX_HTTP_APIKEY_CLUSTER) {
        // hiredis copies the arguments (by length) before send returns
        argv[4] = reinterpret_cast<const char *>(mcf->prefix.data);
        lens[4] = mcf->prefix.len;
        argv[5] = reinterpret_cast<const char *>(ctx->id.data);
        lens[5] = ctx->id.len;
    }

    to = redis->for_key(key);
    if (to != NULL) {
        to->send(6, argv, lens, ngx_http_apikey_guard<ngx_http_apikey_ignore_reply>, NULL);
    }
}
