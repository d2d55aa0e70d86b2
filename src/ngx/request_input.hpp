// What the module's own HTTP endpoints (the admin API, leaked-key reports)
// read from a request beyond what nginx parses for them: a header nginx keeps
// no field for, and the whole body, from memory or nginx's temporary file.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include <string>
#include <string_view>

// The value of request header `name` (case-insensitive; the last one when it
// came more than once); *count says how many came.
std::string_view ngx_http_apikey_request_header(ngx_http_request_t *r, std::string_view name,
    ngx_uint_t *count);

// The body nginx has read (ngx_http_read_client_request_body), into *body:
// NGX_OK; NGX_DECLINED when it is larger than `max` (*body is then not the
// whole body); NGX_ERROR when the temporary file cannot be read. Bodies
// larger than client_body_buffer_size are read back from that file once.
// May throw std::bad_alloc.
ngx_int_t ngx_http_apikey_request_body(ngx_http_request_t *r, size_t max, std::string *body);
