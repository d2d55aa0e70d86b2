// What the client sees: JSON refusals with their standard headers, and the
// RateLimit header fields on every response of a rate-limited location.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include <string>

using apikey::Outcome;

static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_table_elt_t *
ngx_http_apikey_add_header(ngx_http_request_t *r, const char *name, size_t name_len,
    u_char *value, size_t value_len)
{
    ngx_table_elt_t  *h;

    h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.len = name_len;
    h->key.data = reinterpret_cast<u_char *>(const_cast<char *>(name));
    h->value.len = value_len;
    h->value.data = value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    // nginx 1.23 chains same-named headers through next (satisfy any walks
    // www_authenticate's chain): ngx_list_push leaves it uninitialized
    h->next = NULL;
#endif

    return h;
}


static ngx_int_t
ngx_http_apikey_add_number(ngx_http_request_t *r, const char *name, size_t name_len,
    int64_t value)
{
    u_char  *p, *end;

    p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = ngx_sprintf(p, "%L", value);

    return ngx_http_apikey_add_header(r, name, name_len, p, end - p) ? NGX_OK : NGX_ERROR;
}

#define ngx_http_apikey_header(r, name, value)                                 \
    ngx_http_apikey_add_number(r, name, sizeof(name) - 1, value)


// WWW-Authenticate per RFC 6750 section 3. A request with no credential at
// all gets the bare challenge (section 3.1: no error code when the client sent
// no authentication information); any other 401 gets invalid_token, and a
// missing scope insufficient_scope with the scope. The scope is a validated
// scope token (no quote, no backslash), so it needs no escaping in the quoted
// string.
static ngx_int_t
ngx_http_apikey_www_authenticate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    // static text, or (a missing scope) built in the pool: a flood of bad
    // keys allocates nothing on the heap
    static const std::string_view  bare = "Bearer realm=\"api\"";
    static const std::string_view  invalid = "Bearer realm=\"api\", error=\"invalid_token\"";
    static const std::string_view  scope = "Bearer realm=\"api\", error=\"insufficient_scope\", "
                                           "scope=\"";
    std::string_view  value;
    u_char           *p;

    if (ctx->outcome == Outcome::kForbidden) {
        size_t len = scope.size() + ctx->missing_scope.len + 1;
        p = static_cast<u_char *>(ngx_pnalloc(r->pool, len));
        if (p == NULL) {
            return NGX_ERROR;
        }
        u_char *e = ngx_cpymem(p, scope.data(), scope.size());
        e = ngx_cpymem(e, ctx->missing_scope.data, ctx->missing_scope.len);
        *e = '"';
        value = std::string_view(reinterpret_cast<const char *>(p), len);
    } else {
        value = ctx->outcome == Outcome::kMissing ? bare : invalid;
        p = reinterpret_cast<u_char *>(const_cast<char *>(value.data()));
    }

    if (ctx->challenge != NULL && ctx->challenge->hash) {
        // refused again after an internal redirect: one challenge, the latest
        ctx->challenge->value.data = p;
        ctx->challenge->value.len = value.size();
        return NGX_OK;
    }

    ngx_table_elt_t *h = ngx_http_apikey_add_header(
        r, "WWW-Authenticate", sizeof("WWW-Authenticate") - 1, p, value.size());
    if (h == NULL) {
        return NGX_ERROR;
    }

    // where auth_basic puts its challenge: under satisfy any, nginx hides
    // every challenge in this chain once another access module lets the
    // request in
#if (nginx_version >= 1023000)
    h->next = r->headers_out.www_authenticate;
#endif
    r->headers_out.www_authenticate = h;
    ctx->challenge = h;

    return NGX_OK;
}


// Whether nginx will answer this status with an error_page: the test
// ngx_http_special_response_handler makes.
static bool
ngx_http_apikey_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *pages;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));

    if (r->error_page || clcf->error_pages == NULL || r->uri_changes == 0) {
        return false;
    }

    pages = static_cast<ngx_http_err_page_t *>(clcf->error_pages->elts);
    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (pages[i].status == static_cast<ngx_int_t>(status)) {
            return true;
        }
    }

    return false;
}


// Cache-Control: no-store, on refusals and on every admin response (some
// carry a token, shown once: no cache may keep a copy).
ngx_int_t
ngx_http_apikey_no_store(ngx_http_request_t *r)
{
    static u_char  no_store[] = "no-store";

    return ngx_http_apikey_add_header(r, "Cache-Control", sizeof("Cache-Control") - 1, no_store,
                                      sizeof(no_store) - 1)
           ? NGX_OK : NGX_ERROR;
}


// X-Content-Type-Options: nosniff, on every body the module writes: a JSON
// error must never be sniffed into HTML by a browser.
static ngx_int_t
ngx_http_apikey_nosniff(ngx_http_request_t *r)
{
    static u_char  nosniff[] = "nosniff";

    return ngx_http_apikey_add_header(r, "X-Content-Type-Options",
                                      sizeof("X-Content-Type-Options") - 1, nosniff,
                                      sizeof(nosniff) - 1)
           ? NGX_OK : NGX_ERROR;
}


// Sends a complete small response from memory; returns what a content
// handler returns (the caller finalizes with it).
ngx_int_t
ngx_http_apikey_send_body(ngx_http_request_t *r, ngx_uint_t status, const char *content_type,
    std::string_view body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body.size();
    r->headers_out.content_type.data = reinterpret_cast<u_char *>(const_cast<char *>(content_type));
    r->headers_out.content_type.len = ngx_strlen(content_type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_apikey_nosniff(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, body.size());
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, body.data(), body.size());
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


// Refuses the request: returns the status for the access phase, which treats
// it as it treats auth_basic's and limit_req's. 401 and 403 wait for the other
// access modules under `satisfy any` (one of them may let the request in);
// 429 and 503 are final. Either way nginx finishes the response: an
// error_page configured for the status wins; otherwise nginx's own error page
// is sent, and the filters below put the JSON body in its place. Sending the
// body here instead (and returning NGX_DONE) would answer a request that
// satisfy any is about to let in.
ngx_int_t
ngx_http_apikey_deny(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t  status;

    status = apikey::http_status(ctx->outcome);

    if ((status == NGX_HTTP_UNAUTHORIZED || ctx->outcome == Outcome::kForbidden)
        && ngx_http_apikey_www_authenticate(r, ctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->refusal = status;
    ngx_str_null(&ctx->body);

    if (ngx_http_apikey_has_error_page(r, status)) {
        return status;
    }

    std::string_view  body = apikey::fixed_denial_body(ctx->outcome);

    if (body.empty()) {
        apikey::DenialDetails details;
        details.required_scope = std::string_view(
            reinterpret_cast<const char *>(ctx->missing_scope.data), ctx->missing_scope.len);
        details.expired_at = ctx->expires;
        details.retry_after = ctx->retry_after;
        ctx->body = ngx_http_apikey_pool_copy(r->pool, apikey::denial_body(ctx->outcome, details));
        if (ctx->body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        // a static constant of the core: lives as long as the module
        ctx->body.data = reinterpret_cast<u_char *>(const_cast<char *>(body.data()));
        ctx->body.len = body.size();
    }

    return status;
}


// The request reached the content phases: whatever refusal this module made
// was overruled by another access module (satisfy any).
static ngx_int_t
ngx_http_apikey_precontent_handler(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t  *ctx;

    ctx = static_cast<ngx_http_apikey_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_apikey_module));

    if (ctx != NULL) {
        ctx->refusal = 0;
    }

    return NGX_DECLINED;
}


// nginx is sending its own page for our refusal (not an error_page's answer,
// not a response of a request satisfy any let in): make it the JSON refusal.
static ngx_int_t
ngx_http_apikey_json_refusal(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    static u_char  json[] = "application/json";

    r->headers_out.content_type.data = json;
    r->headers_out.content_type.len = sizeof(json) - 1;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = ctx->body.len;
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ctx->json_body = 1;

    if (ngx_http_apikey_nosniff(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_no_store(r);
}


// X-Api-Key-Expires: <HTTP-date> on every response to a key that stops working
// within apikey_expiry_warning, or to the previous token of a rotation with
// grace (which stops at the grace's end), so integrators notice in time.
static ngx_int_t
ngx_http_apikey_expiry_header(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    time_t                       ends;
    u_char                      *p;
    ngx_http_apikey_loc_conf_t  *lcf;

    if (ctx->outcome != Outcome::kOk && ctx->outcome != Outcome::kLimited
        && ctx->outcome != Outcome::kForbidden)
    {
        return NGX_OK;
    }

    ends = static_cast<time_t>(ctx->expires);
    if (ctx->token_until > 0 && (ends == 0 || ctx->token_until < ends)) {
        ends = static_cast<time_t>(ctx->token_until);
    }

    if (ends == 0) {
        return NGX_OK;
    }

    lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));

    if (ctx->token_until == 0 && ends - ngx_time() > lcf->expiry_warning) {
        return NGX_OK;
    }

    p = static_cast<u_char *>(ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT")));
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_add_header(r, "X-Api-Key-Expires", sizeof("X-Api-Key-Expires") - 1,
                                      p, ngx_http_time(p, ends) - p)
           ? NGX_OK : NGX_ERROR;
}


// Adds RateLimit-* (and Retry-After after a refusal) to every response of a
// request that went through a bucket: the API's 2xx as much as our 429.
static ngx_int_t
ngx_http_apikey_header_filter(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_apikey_get_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->refusal == 0) {
        if (ctx->challenge != NULL) {
            // let in by another module: a challenge nginx did not hide
            // (auth_basic's replaced ours as the chain's head) must not stay
            ctx->challenge->hash = 0;
        }

    } else if (r->headers_out.status == ctx->refusal) {
        // nginx's special response sets err_status; error_page's answers and
        // a proxied response carry their own status
        if (ctx->body.len && r->err_status == ctx->refusal
            && !ctx->json_body && ngx_http_apikey_json_refusal(r, ctx) != NGX_OK)
        {
            return NGX_ERROR;
        }

        // RFC 9110 section 10.2.3: when to try again. A refusal for want of
        // Redis lasts as long as a reconnect: one second
        if (ctx->refusal == NGX_HTTP_SERVICE_UNAVAILABLE
            && ngx_http_apikey_header(r, "Retry-After", 1) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_apikey_expiry_header(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    // a bucket's, a quota's or the credits' refusal: when to try again
    if ((ctx->outcome == Outcome::kLimited || ctx->outcome == Outcome::kQuotaExceeded
         || ctx->outcome == Outcome::kCreditsExhausted)
        && ctx->retry_after > 0
        && ngx_http_apikey_header(r, "Retry-After", ctx->retry_after) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ctx->has_rate && ctx->draft_policy.len == 0) {
        return ngx_http_next_header_filter(r);
    }

    switch (ctx->rate_headers) {

    case NGX_HTTP_APIKEY_RATELIMIT_DRAFT:
        // README "Headers": the current draft's two structured fields, the
        // buckets' and the calendar quotas'
        if (ctx->draft_policy.len == 0) {
            break;
        }
        if (ngx_http_apikey_add_header(r, "RateLimit-Policy", sizeof("RateLimit-Policy") - 1,
                                       ctx->draft_policy.data, ctx->draft_policy.len) == NULL
            || ngx_http_apikey_add_header(r, "RateLimit", sizeof("RateLimit") - 1,
                                          ctx->draft_field.data, ctx->draft_field.len) == NULL)
        {
            return NGX_ERROR;
        }
        break;

    case NGX_HTTP_APIKEY_RATELIMIT_LEGACY:
        // draft-06 fields: the buckets only (they have no way to name a quota)
        if (!ctx->has_rate) {
            break;
        }
        if (ngx_http_apikey_header(r, "RateLimit-Limit", ctx->rate_limit) != NGX_OK
            || ngx_http_apikey_header(r, "RateLimit-Remaining", ctx->rate_remaining) != NGX_OK
            || ngx_http_apikey_header(r, "RateLimit-Reset", ctx->rate_reset) != NGX_OK
            || ngx_http_apikey_add_header(r, "RateLimit-Policy", sizeof("RateLimit-Policy") - 1,
                                          ctx->rate_policy.data, ctx->rate_policy.len) == NULL)
        {
            return NGX_ERROR;
        }
        break;

    default:
        break;   // apikey_ratelimit_headers off
    }

    return ngx_http_next_header_filter(r);
}


// Swaps nginx's page for the JSON refusal chosen by the header filter: the
// page's buffers are consumed unsent, the body goes out once, as the last.
static ngx_int_t
ngx_http_apikey_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_chain_t             out, *cl;
    ngx_http_apikey_ctx_t  *ctx;

    if (r != r->main || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = static_cast<ngx_http_apikey_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_apikey_module));

    if (ctx == NULL || !ctx->json_body) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        if (cl->buf->in_file) {
            cl->buf->file_pos = cl->buf->file_last;
        }
    }

    if (ctx->body.data == NULL) {
        return NGX_OK;   // sent already
    }

    b = static_cast<ngx_buf_t *>(ngx_calloc_buf(r->pool));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->memory = 1;
    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ngx_str_null(&ctx->body);

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


// The header and body filters, and the content-phase hook that notices a
// refusal overruled by satisfy any.
ngx_int_t
ngx_http_apikey_responses_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apikey_guard<ngx_http_apikey_header_filter>;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_apikey_guard<ngx_http_apikey_body_filter>;

    cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));

    h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_apikey_guard<ngx_http_apikey_precontent_handler, NGX_HTTP_INTERNAL_SERVER_ERROR>;

    return NGX_OK;
}
