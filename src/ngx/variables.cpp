// $apikey_id, $apikey_name, $apikey_scopes, $apikey_result, $apikey_rate_remaining.
//
// None of them can hold the token: id, name and scopes come from the record, and
// only once the presented secret matched it.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

enum ngx_http_apikey_var_e {
    NGX_HTTP_APIKEY_VAR_ID = 0,
    NGX_HTTP_APIKEY_VAR_NAME,
    NGX_HTTP_APIKEY_VAR_SCOPES,
    NGX_HTTP_APIKEY_VAR_RESULT,
    NGX_HTTP_APIKEY_VAR_RATE_REMAINING,
};


static void
ngx_http_apikey_set_var(ngx_http_variable_value_t *v, u_char *data, size_t len)
{
    v->len = len;
    v->data = data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}


static ngx_int_t
ngx_http_apikey_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_get_ctx(r);

    if (ctx == NULL || ctx->state != NGX_HTTP_APIKEY_DONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_APIKEY_VAR_ID:
        if (ctx->id.len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }
        ngx_http_apikey_set_var(v, ctx->id.data, ctx->id.len);
        return NGX_OK;

    case NGX_HTTP_APIKEY_VAR_NAME:
        ngx_http_apikey_set_var(v, ctx->name.data, ctx->name.len);
        return NGX_OK;

    case NGX_HTTP_APIKEY_VAR_SCOPES:
        ngx_http_apikey_set_var(v, ctx->scopes.data, ctx->scopes.len);
        return NGX_OK;

    case NGX_HTTP_APIKEY_VAR_RESULT: {
        std::string_view word = apikey::result_word(ctx->outcome);
        ngx_http_apikey_set_var(v, reinterpret_cast<u_char *>(const_cast<char *>(word.data())),
                                word.size());
        return NGX_OK;
    }

    case NGX_HTTP_APIKEY_VAR_RATE_REMAINING:
        if (!ctx->has_rate) {
            v->not_found = 1;
            return NGX_OK;
        }
        p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT64_LEN));
        if (p == NULL) {
            return NGX_ERROR;
        }
        ngx_http_apikey_set_var(v, p, ngx_sprintf(p, "%L", ctx->rate_remaining) - p);
        return NGX_OK;
    }

    v->not_found = 1;
    return NGX_OK;
}


ngx_int_t
ngx_http_apikey_add_variables(ngx_conf_t *cf)
{
    static struct {
        ngx_str_t  name;
        uintptr_t  data;
    } vars[] = {
        { ngx_string("apikey_id"), NGX_HTTP_APIKEY_VAR_ID },
        { ngx_string("apikey_name"), NGX_HTTP_APIKEY_VAR_NAME },
        { ngx_string("apikey_scopes"), NGX_HTTP_APIKEY_VAR_SCOPES },
        { ngx_string("apikey_result"), NGX_HTTP_APIKEY_VAR_RESULT },
        { ngx_string("apikey_rate_remaining"), NGX_HTTP_APIKEY_VAR_RATE_REMAINING },
    };

    for (auto &var : vars) {
        ngx_http_variable_t *v = ngx_http_add_variable(cf, &var.name, NGX_HTTP_VAR_NOCACHEABLE);
        if (v == NULL) {
            return NGX_ERROR;
        }
        v->get_handler = ngx_http_apikey_guard<ngx_http_apikey_variable>;
        v->data = var.data;
    }

    return NGX_OK;
}
