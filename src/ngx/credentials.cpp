// Reading the key from the request headers, and removing it before the request
// goes upstream.
#include "ngx_http_apikey_module.hpp"

#include "credential.hpp"

using apikey::CredentialHeader;
using apikey::CredentialScanner;
using apikey::CredentialStatus;
using apikey::Outcome;




// Finds the one key the request carries. The key points into the request's
// header buffers; nothing is copied and nothing about it is logged.
Outcome
ngx_http_apikey_find_credential(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_str_t *key)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    CredentialScanner scanner;

    part = &r->headers_in.headers.part;
    h = static_cast<ngx_table_elt_t *>(part->elts);

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = static_cast<ngx_table_elt_t *>(part->elts);
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        scanner.offer(std::string_view(reinterpret_cast<const char *>(h[i].lowcase_key),
                                       h[i].key.len),
                      ngx_http_apikey_sv(h[i].value));
    }

    switch (scanner.status()) {
    case CredentialStatus::kMissing:
        return Outcome::kMissing;
    case CredentialStatus::kAmbiguous:
        return Outcome::kAmbiguous;
    case CredentialStatus::kMalformed:
        return Outcome::kMalformed;
    case CredentialStatus::kFound:
        break;
    }

    key->data = reinterpret_cast<u_char *>(const_cast<char *>(scanner.key().data()));
    key->len = scanner.key().size();
    ctx->carriers = scanner.carriers();

    return Outcome::kOk;
}


// Removes the headers that carried the key, so the API behind nginx never sees
// it (apikey_strip_credentials on). The list is rebuilt rather than edited in
// place: r->headers_in keeps pointers (host, user_agent, ...) into the old
// elements, and moving elements under them would make them point at the wrong
// header. The old elements stay untouched in the pool.
//
// The new list is built in r->headers_in.headers itself, never in a local
// that is then copied there: an ngx_list_t's last points at its own part, so
// a copy's last would point into this stack frame, and the next push (Lua's
// ngx.req.set_header, headers-more's more_set_input_headers) would write
// through it.
ngx_int_t
ngx_http_apikey_strip_credentials(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t        i, n;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (ctx->stripped || ctx->carriers == 0) {
        return NGX_OK;
    }

    // only walked below, never pushed to: its last may dangle
    old = r->headers_in.headers;

    n = 0;
    for (part = &old.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&r->headers_in.headers, r->pool, n ? n : 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        r->headers_in.headers = old;
        return NGX_ERROR;
    }

    part = &old.part;
    h = static_cast<ngx_table_elt_t *>(part->elts);

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = static_cast<ngx_table_elt_t *>(part->elts);
            i = 0;
        }

        CredentialHeader kind = apikey::credential_header(
            std::string_view(reinterpret_cast<const char *>(h[i].lowcase_key), h[i].key.len));

        if (kind & ctx->carriers) {
            continue;
        }

        copy = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_in.headers));
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    if (ctx->carriers & apikey::kHeaderAuthorization) {
        r->headers_in.authorization = NULL;
    }

    ctx->stripped = 1;

    return NGX_OK;
}
