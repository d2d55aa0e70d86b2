// $apikey_id, $apikey_name, $apikey_scopes, $apikey_result, $apikey_rate_remaining,
// $apikey_owner, $apikey_role, $apikey_plan, $apikey_env, $apikey_dry_run,
// $apikey_credits_remaining and $apikey_meta_NAME.
//
// None of them can hold the token: id, name, scopes and the key model's fields
// come from the record, and only once the presented secret matched it.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include "meta.hpp"

enum ngx_http_apikey_var_e {
    NGX_HTTP_APIKEY_VAR_ID = 0,
    NGX_HTTP_APIKEY_VAR_NAME,
    NGX_HTTP_APIKEY_VAR_SCOPES,
    NGX_HTTP_APIKEY_VAR_RESULT,
    NGX_HTTP_APIKEY_VAR_RATE_REMAINING,
    NGX_HTTP_APIKEY_VAR_OWNER,
    NGX_HTTP_APIKEY_VAR_ROLE,
    NGX_HTTP_APIKEY_VAR_PLAN,
    NGX_HTTP_APIKEY_VAR_ENV,
    NGX_HTTP_APIKEY_VAR_DRY_RUN,
    NGX_HTTP_APIKEY_VAR_CREDITS,
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
        // let in from the last-known-good cache while Redis was unavailable
        std::string_view word = ctx->lkg_admitted && ctx->outcome == apikey::Outcome::kOk
                                ? std::string_view("cached") : apikey::result_word(ctx->outcome);
        ngx_http_apikey_set_var(v, reinterpret_cast<u_char *>(const_cast<char *>(word.data())),
                                word.size());
        return NGX_OK;
    }

    case NGX_HTTP_APIKEY_VAR_OWNER:
    case NGX_HTTP_APIKEY_VAR_ROLE:
    case NGX_HTTP_APIKEY_VAR_PLAN: {
        // only for a key whose secret matched (an unproven id tells nothing)
        ngx_str_t *s = data == NGX_HTTP_APIKEY_VAR_OWNER ? &ctx->owner
                       : data == NGX_HTTP_APIKEY_VAR_ROLE ? &ctx->role : &ctx->plan;
        if (ctx->id.len == 0 || s->len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }
        ngx_http_apikey_set_var(v, s->data, s->len);
        return NGX_OK;
    }

    case NGX_HTTP_APIKEY_VAR_ENV:
        if (ctx->id.len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }
        if (ctx->env.len == 0) {   // a record without env: live
            ngx_http_apikey_set_var(v, const_cast<u_char *>(reinterpret_cast<const u_char *>("live")),
                                    4);
        } else {
            ngx_http_apikey_set_var(v, ctx->env.data, ctx->env.len);
        }
        return NGX_OK;

    case NGX_HTTP_APIKEY_VAR_DRY_RUN:
        ngx_http_apikey_set_var(v, const_cast<u_char *>(reinterpret_cast<const u_char *>(
                                       ctx->dry_run ? "1" : "0")), 1);
        return NGX_OK;

    case NGX_HTTP_APIKEY_VAR_CREDITS:
        // what Redis said is left after this request; none for a key
        // without credits (unlimited) or before Redis was asked
        if (ctx->id.len == 0 || ctx->credits < 0) {
            v->not_found = 1;
            return NGX_OK;
        }
        p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT64_LEN));
        if (p == NULL) {
            return NGX_ERROR;
        }
        ngx_http_apikey_set_var(v, p, ngx_sprintf(p, "%L", ctx->credits) - p);
        return NGX_OK;

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


// $apikey_meta_NAME: member NAME of the key's metadata, decoded into the
// pool (the record's text is the JSON object meta.hpp reads without
// allocating). `data` points at the variable's full name, as nginx's prefix
// variables ($http_NAME, $arg_NAME) are given theirs.
static ngx_int_t
ngx_http_apikey_meta_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    static constexpr size_t  prefix = sizeof("apikey_meta_") - 1;

    ngx_str_t              *name = reinterpret_cast<ngx_str_t *>(data);
    ngx_http_apikey_ctx_t  *ctx = ngx_http_apikey_get_ctx(r);

    if (ctx == NULL || ctx->state != NGX_HTTP_APIKEY_DONE || ctx->id.len == 0
        || ctx->meta.len == 0 || name->len <= prefix)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    u_char *p = static_cast<u_char *>(ngx_pnalloc(r->pool, apikey::kMaxMetaValue));
    if (p == NULL) {
        return NGX_ERROR;
    }

    auto n = apikey::meta_value(
        ngx_http_apikey_sv(ctx->meta),
        std::string_view(reinterpret_cast<const char *>(name->data) + prefix, name->len - prefix),
        reinterpret_cast<char *>(p), apikey::kMaxMetaValue);
    if (!n) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_apikey_set_var(v, p, *n);
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
        { ngx_string("apikey_owner"), NGX_HTTP_APIKEY_VAR_OWNER },
        { ngx_string("apikey_role"), NGX_HTTP_APIKEY_VAR_ROLE },
        { ngx_string("apikey_plan"), NGX_HTTP_APIKEY_VAR_PLAN },
        { ngx_string("apikey_env"), NGX_HTTP_APIKEY_VAR_ENV },
        { ngx_string("apikey_dry_run"), NGX_HTTP_APIKEY_VAR_DRY_RUN },
        { ngx_string("apikey_credits_remaining"), NGX_HTTP_APIKEY_VAR_CREDITS },
    };

    for (auto &var : vars) {
        ngx_http_variable_t *v = ngx_http_add_variable(cf, &var.name, NGX_HTTP_VAR_NOCACHEABLE);
        if (v == NULL) {
            return NGX_ERROR;
        }
        v->get_handler = ngx_http_apikey_guard<ngx_http_apikey_variable>;
        v->data = var.data;
    }

    // a prefix variable: nginx hands the handler the full name in `data`
    static ngx_str_t  meta = ngx_string("apikey_meta_");
    ngx_http_variable_t *v = ngx_http_add_variable(
        cf, &meta, NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX);
    if (v == NULL) {
        return NGX_ERROR;
    }
    v->get_handler = ngx_http_apikey_guard<ngx_http_apikey_meta_variable>;

    return NGX_OK;
}
