#include "request_input.hpp"


std::string_view
ngx_http_apikey_request_header(ngx_http_request_t *r, std::string_view name, ngx_uint_t *count)
{
    std::string_view  found;

    *count = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].key.len == name.size()
                && ngx_strncasecmp(h[i].key.data,
                                   reinterpret_cast<u_char *>(const_cast<char *>(name.data())),
                                   name.size()) == 0)
            {
                found = ngx_http_apikey_sv(h[i].value);
                (*count)++;
            }
        }
    }
    return found;
}


ngx_int_t
ngx_http_apikey_request_body(ngx_http_request_t *r, size_t max, std::string *body)
{
    body->clear();

    for (ngx_chain_t *cl = r->request_body ? r->request_body->bufs : NULL; cl; cl = cl->next) {
        ngx_buf_t *b = cl->buf;
        size_t len = b->in_file ? static_cast<size_t>(b->file_last - b->file_pos)
                                : static_cast<size_t>(b->last - b->pos);

        if (body->size() + len > max) {
            return NGX_DECLINED;   // never read further than needed to know
        }

        if (!b->in_file) {
            body->append(reinterpret_cast<const char *>(b->pos), len);
            continue;
        }

        size_t at = body->size();
        body->resize(at + len);
        if (ngx_read_file(b->file, reinterpret_cast<u_char *>(&(*body)[at]), len, b->file_pos)
            != static_cast<ssize_t>(len))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
