#include "redis_adapter.hpp"
#include "guard.hpp"

// Events are registered level-triggered (NGX_LEVEL_EVENT), not nginx's usual
// edge-triggered epoll mode: hiredis reads at most 16 KiB per
// redisAsyncHandleRead() and expects to be called again while data remains,
// and it turns write interest off itself (delWrite) once its buffer is flushed.
// Level triggering is exactly that contract, so no reply is ever stranded in
// the socket waiting for an edge that will not come.

static void
ngx_http_apikey_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t   *c = static_cast<ngx_connection_t *>(rev->data);
    redisAsyncContext  *ac = static_cast<redisAsyncContext *>(c->data);

    // may free ac and, through the cleanup hook, c: touch neither afterwards
    redisAsyncHandleRead(ac);
}


static void
ngx_http_apikey_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t   *c = static_cast<ngx_connection_t *>(wev->data);
    redisAsyncContext  *ac = static_cast<redisAsyncContext *>(c->data);

    redisAsyncHandleWrite(ac);
}


static void
ngx_http_apikey_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = static_cast<ngx_connection_t *>(privdata);

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0, "apikey: cannot watch the redis socket");
        }
    }
}


static void
ngx_http_apikey_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = static_cast<ngx_connection_t *>(privdata);

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_apikey_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = static_cast<ngx_connection_t *>(privdata);

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0, "apikey: cannot watch the redis socket");
        }
    }
}


static void
ngx_http_apikey_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = static_cast<ngx_connection_t *>(privdata);

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


// Called by hiredis just before it closes the socket and frees the context.
static void
ngx_http_apikey_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = static_cast<ngx_connection_t *>(privdata);

    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->data = NULL;
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;   // hiredis closes the descriptor, not nginx
}


ngx_int_t
ngx_http_apikey_redis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_apikey_guard<ngx_http_apikey_redis_read_handler>;
    c->write->handler = ngx_http_apikey_guard<ngx_http_apikey_redis_write_handler>;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_apikey_guard<ngx_http_apikey_redis_add_read>;
    ac->ev.delRead = ngx_http_apikey_guard<ngx_http_apikey_redis_del_read>;
    ac->ev.addWrite = ngx_http_apikey_guard<ngx_http_apikey_redis_add_write>;
    ac->ev.delWrite = ngx_http_apikey_guard<ngx_http_apikey_redis_del_write>;
    ac->ev.cleanup = ngx_http_apikey_guard<ngx_http_apikey_redis_cleanup>;

    return NGX_OK;
}
