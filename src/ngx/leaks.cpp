// apikey_leak_report: the endpoint GitHub's secret scanning partner program
// posts leaked tokens to (leak_report.hpp).
//
// A content handler. nginx reads the body (ngx_http_read_client_request_body:
// never blocking); the report's ECDSA P-256 signature over the raw body is
// checked with OpenSSL against the public key its identifier names in the
// keys file, read at configuration time. Our tokens are then acted on by one
// EVAL of the leak script on the worker's Redis connection, without blocking:
// the handler returns NGX_DONE and the reply's posted event answers with the
// program's feedback body. A token is never logged, sent to Redis or echoed:
// Redis gets its digest, the feedback its SHA-256.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"
#include "request_input.hpp"
#include "metrics.hpp"

#include <new>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "admin.hpp"
#include "digest.hpp"
#include "keyspace.hpp"
#include "leak_report.hpp"
#include "leak_script.hpp"
#include "redis_call.hpp"
#include "redis_topology.hpp"
#include "token.hpp"

namespace {

struct leak_key_t {
    ngx_str_t   identifier;
    EVP_PKEY   *pkey;
};

}  // namespace

struct ngx_http_apikey_leak_conf_t {
    ngx_array_t          *keys;      // of leak_key_t
    apikey::LeakAction    action;
    ngx_str_t             file;
};

namespace {

struct leak_ctx_t;

// One match of the report, as the feedback needs it.
struct leak_item_t {
    u_char      token_hash[apikey::kDigestHexLength];
    ngx_str_t   type;
    ngx_int_t   slot;       // its place in the script call, or -1: not ours
    ngx_flag_t  positive;
};

struct leak_ctx_t {
    ngx_http_request_t   *request;
    leak_item_t          *items;
    ngx_uint_t            nitems;
    apikey::RedisCall    *call;        // while its reply is awaited
    ngx_event_t           wake;
    ngx_uint_t            status;
    ngx_str_t             body;
};

static_assert(std::is_trivially_destructible<leak_ctx_t>::value,
              "leak contexts live in r->pool");
static_assert(std::is_trivially_destructible<leak_item_t>::value,
              "leak items live in r->pool");


ngx_int_t
respond(ngx_http_request_t *r, ngx_uint_t status, std::string_view body)
{
    if (ngx_http_apikey_no_store(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_apikey_send_body(r, status, "application/json", body);
}


ngx_int_t
respond_error(ngx_http_request_t *r, ngx_uint_t status, std::string_view code,
    std::string_view message)
{
    return respond(r, status, apikey::admin_error(code, message) + "\n");
}


// The report is GitHub's: one identifier the keys file names, one signature
// that verifies over the raw body. false, with *why set, otherwise.
bool
signature_ok(ngx_http_request_t *r, const ngx_http_apikey_leak_conf_t *conf,
    std::string_view body, const char **why)
{
    ngx_uint_t  nid, nsig;

    std::string_view id = ngx_http_apikey_request_header(r, "GITHUB-PUBLIC-KEY-IDENTIFIER", &nid);
    std::string_view sig = ngx_http_apikey_request_header(r, "GITHUB-PUBLIC-KEY-SIGNATURE", &nsig);

    if (nid != 1 || nsig != 1 || id.empty() || sig.empty()) {
        *why = "no single GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE";
        return false;
    }

    EVP_PKEY *pkey = NULL;
    auto *keys = static_cast<leak_key_t *>(conf->keys->elts);
    for (ngx_uint_t i = 0; i < conf->keys->nelts; i++) {
        if (ngx_http_apikey_sv(keys[i].identifier) == id) {
            pkey = keys[i].pkey;
        }
    }
    if (pkey == NULL) {
        *why = "the key identifier is not in the keys file";
        return false;
    }

    // base64 of a DER ECDSA signature: about 72 bytes for P-256
    if (sig.size() > 1024) {
        *why = "the signature is too long";
        return false;
    }
    u_char     der[1024];
    ngx_str_t  src = {sig.size(), reinterpret_cast<u_char *>(const_cast<char *>(sig.data()))};
    ngx_str_t  dst = {0, der};
    if (ngx_decode_base64(&dst, &src) != NGX_OK) {
        *why = "the signature is not base64";
        return false;
    }

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) {
        *why = "out of memory";
        return false;
    }
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1
             && EVP_DigestVerify(md, dst.data, dst.len,
                                 reinterpret_cast<const unsigned char *>(body.data()),
                                 body.size()) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        *why = "the signature does not verify";
        return false;
    }
    return true;
}


void
cleanup(void *data)
{
    auto  *ctx = static_cast<leak_ctx_t *>(data);

    ngx_http_apikey_call_abandon(&ctx->call, &ctx->wake);
}


leak_ctx_t *
leak_ctx_of(ngx_http_request_t *r)
{
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_apikey_guard<cleanup>) {
            return static_cast<leak_ctx_t *>(cln->data);
        }
    }
    return NULL;
}


std::string
feedback(const leak_ctx_t *ctx)
{
    std::vector<apikey::LeakVerdict> verdicts;
    verdicts.reserve(ctx->nitems);
    for (ngx_uint_t i = 0; i < ctx->nitems; i++) {
        const leak_item_t &item = ctx->items[i];
        verdicts.push_back({std::string(reinterpret_cast<const char *>(item.token_hash),
                                        sizeof(item.token_hash)),
                            std::string(ngx_http_apikey_sv(item.type)),
                            item.positive != 0});
    }
    return apikey::leak_feedback(verdicts) + "\n";
}


void ngx_http_apikey_leak_done(apikey::RedisCall *call, apikey::RedisClient *client,
    redisReply *reply);
void ngx_http_apikey_leak_wake(ngx_event_t *ev);


// Checks, parses and sends the report's script call. Returns NGX_AGAIN while
// waiting, or a final status with ctx->body set.
ngx_int_t
process(ngx_http_request_t *r, leak_ctx_t *ctx, std::string_view body)
{
    auto *mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));
    auto *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));
    const ngx_http_apikey_leak_conf_t *conf = lcf->leak;

    auto fail = [&](ngx_uint_t status, std::string_view code, std::string_view message) {
        ctx->status = status;
        ctx->body = ngx_http_apikey_pool_copy(r->pool,
                                              apikey::admin_error(code, message) + "\n");
        return static_cast<ngx_int_t>(ctx->body.data ? status : NGX_HTTP_INTERNAL_SERVER_ERROR);
    };

    const char *why = NULL;
    if (!signature_ok(r, conf, body, &why)) {
        // a client's mistake (or a forgery): nothing changes
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apikey: leak report refused: %s", why);
        return fail(NGX_HTTP_UNAUTHORIZED, "invalid_signature", why);
    }

    std::vector<apikey::LeakMatch> matches;
    std::string problem = apikey::parse_leak_report(body, matches);
    if (!problem.empty()) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apikey: leak report refused: %s", problem.c_str());
        return fail(NGX_HTTP_BAD_REQUEST, "invalid_request", problem);
    }

    ctx->nitems = matches.size();
    ctx->items = static_cast<leak_item_t *>(
        ngx_pcalloc(r->pool, sizeof(leak_item_t) * (matches.size() + 1)));
    if (ctx->items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    std::string_view prefix = ngx_http_apikey_sv(mcf->prefix);
    std::vector<std::string> keys, args;
    ngx_int_t slots = 0;

    for (std::size_t i = 0; i < matches.size(); i++) {
        const apikey::LeakMatch &m = matches[i];
        leak_item_t &item = ctx->items[i];
        apikey::DigestHex hash, digest;

        // the feedback's token_hash: plain SHA-256, whatever the pepper
        if (!apikey::token_digest(m.token, "", hash)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(item.token_hash, hash.data(), hash.size());
        item.type = ngx_http_apikey_pool_copy(r->pool, m.type);
        item.slot = -1;

        // ours only if it has our format and checksum, and (in Redis) a key's digest
        apikey::ParsedToken parsed = apikey::parse_token(m.token);
        if (parsed.shape != apikey::TokenShape::kProject) {
            continue;
        }
        if (!apikey::token_digest(m.token, ngx_http_apikey_sv(mcf->hash_secret), digest)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        item.slot = slots++;
        keys.push_back(apikey::record_key(prefix, parsed.id));
        args.emplace_back(parsed.id);
        args.emplace_back(digest.data(), digest.size());
        args.push_back(m.url);
    }

    if (slots == 0) {
        // nothing of ours: no Redis needed
        ctx->status = NGX_HTTP_OK;
        ctx->body = ngx_http_apikey_pool_copy(r->pool, feedback(ctx));
        return ctx->body.data ? NGX_HTTP_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    apikey::RedisTopology *topology = ngx_http_apikey_redis();
    apikey::RedisClient *redis = topology ? topology->primary() : NULL;

    if (topology != NULL && topology->cluster()) {
        // the keys of one report live in many slots, and a script runs in one
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable",
                    "leak reports are not available on Redis Cluster");
    }
    if (redis == NULL) {
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable", "Redis is not configured");
    }

    std::vector<std::string> command = {
        "EVAL", std::string(apikey::kLeakScript), std::to_string(keys.size() + 1),
        std::string(prefix) + "audit",
    };
    command.insert(command.end(), keys.begin(), keys.end());
    command.push_back(std::string(apikey::leak_action_name(conf->action)));
    command.push_back(std::to_string(ngx_time()));
    command.push_back(std::string(prefix) + "invalidate");
    command.push_back("github-secret-scanning");
    command.insert(command.end(), args.begin(), args.end());

    std::vector<std::string_view> views(command.begin(), command.end());
    ngx_str_t formatted = ngx_http_apikey_format_command(r->pool, views.data(), views.size());
    if (formatted.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    auto *call = ngx_http_apikey_call_create(ctx, ngx_http_apikey_leak_done, formatted, 0, false);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_apikey_call_send(call)) {
        return fail(NGX_HTTP_SERVICE_UNAVAILABLE, "auth_unavailable",
                    "Redis is not reachable; retry shortly");
    }

    ctx->call = call;
    ctx->wake.handler = ngx_http_apikey_guard<ngx_http_apikey_leak_wake>;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;
    ngx_add_timer(&ctx->wake, lcf->timeout);

    return NGX_AGAIN;
}


// The script's reply: one integer per match sent, 1 for a key of ours.
void
decode(ngx_http_request_t *r, leak_ctx_t *ctx, const redisReply *reply)
{
    auto *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));
    ngx_uint_t sent = 0;

    for (ngx_uint_t i = 0; i < ctx->nitems; i++) {
        sent += ctx->items[i].slot >= 0;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != sent) {
        ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR, r->connection->log, 0,
                                    "apikey: leak report failed in redis: %*s",
                                    reply && reply->type == REDIS_REPLY_ERROR ? reply->len : 16,
                                    reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                                              : "unexpected reply");
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->body = ngx_http_apikey_pool_copy(
            r->pool, apikey::admin_error("auth_unavailable", "Redis could not be used") + "\n");
        return;
    }

    apikey::LeakAction action = lcf->leak->action;
    for (ngx_uint_t i = 0; i < ctx->nitems; i++) {
        leak_item_t &item = ctx->items[i];
        if (item.slot < 0) continue;
        const redisReply *e = reply->element[item.slot];
        item.positive = e->type == REDIS_REPLY_INTEGER && e->integer == 1;
        if (item.positive) {
            ngx_http_apikey_count(leaked[static_cast<int>(action)], 1);
        }
    }

    ctx->status = NGX_HTTP_OK;
    ctx->body = ngx_http_apikey_pool_copy(r->pool, feedback(ctx));
}


// The leak report call's outcome (redis_call.hpp): an unsent call (no
// client) or a failed one is decoded as Redis's failure, a 503.
void
ngx_http_apikey_leak_done(apikey::RedisCall *call, apikey::RedisClient *, redisReply *reply)
{
    auto  *ctx = static_cast<leak_ctx_t *>(call->owner);

    try {
        decode(ctx->request, ctx, reply);
    } catch (...) {
        ngx_http_apikey_log_caught(ctx->request->connection->log, "the leak report reply");
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_str_null(&ctx->body);
    }

    ctx->call = NULL;   // freed by redis_call.cpp once this returns

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }
    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


// The reply is in, or the time is up: answer and finish the request.
void
ngx_http_apikey_leak_wake(ngx_event_t *ev)
{
    auto                *r = static_cast<ngx_http_request_t *>(ev->data);
    auto                *ctx = leak_ctx_of(r);
    ngx_connection_t    *c = r->connection;
    ngx_int_t            rc;

    if (ev->timedout) {
        ev->timedout = 0;
        cleanup(ctx);
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->body = ngx_http_apikey_pool_copy(
            r->pool, apikey::admin_error("auth_unavailable", "Redis did not answer in time") + "\n");
    }

    ngx_http_set_log_request(c->log, r);

    try {
        rc = ctx->body.data ? respond(r, ctx->status, ngx_http_apikey_sv(ctx->body))
                            : NGX_HTTP_INTERNAL_SERVER_ERROR;
    } catch (...) {
        ngx_http_apikey_log_caught(c->log, "the leak report answer");
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


void
body_read(ngx_http_request_t *r)
{
    auto          *ctx = leak_ctx_of(r);
    std::string    body;
    ngx_int_t      rc;

    try {
        rc = ngx_http_apikey_request_body(r, apikey::kMaxLeakReportBody, &body);
        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (rc == NGX_DECLINED) {
            ngx_http_finalize_request(r, respond_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                                       "too_large",
                                                       "the report is larger than 1 MiB"));
            return;
        }

        rc = process(r, ctx, body);
    } catch (...) {
        ngx_http_apikey_log_caught(r->connection->log, "the leak report");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_AGAIN) {
        return;
    }
    if (ctx->body.data) {
        rc = respond(r, ctx->status, ngx_http_apikey_sv(ctx->body));
    }
    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_http_apikey_leak_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;
    leak_ctx_t          *ctx;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        static ngx_str_t allow_name = ngx_string("Allow");
        auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
        if (h == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        h->hash = 1;
        h->key = allow_name;
        ngx_str_set(&h->value, "POST");
        h->lowcase_key = NULL;
        return respond_error(r, NGX_HTTP_NOT_ALLOWED, "method_not_allowed",
                             "a leak report is a POST");
    }

    if (r->headers_in.content_length_n > static_cast<off_t>(apikey::kMaxLeakReportBody)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) return rc;
        return respond_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
                             "the report is larger than 1 MiB");
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(leak_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx = static_cast<leak_ctx_t *>(cln->data);
    ngx_memzero(ctx, sizeof(leak_ctx_t));
    ctx->request = r;
    cln->handler = ngx_http_apikey_guard<cleanup>;

    r->request_body_in_single_buf = 1;
    rc = ngx_http_read_client_request_body(r, ngx_http_apikey_guard<body_read>);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }
    return NGX_DONE;
}


void
free_pkey(void *data)
{
    EVP_PKEY_free(static_cast<EVP_PKEY *>(data));
}


// Reads the keys file (GitHub's public-keys document) into EVP_PKEYs.
char *
load_keys(ngx_conf_t *cf, ngx_http_apikey_leak_conf_t *conf)
{
    if (ngx_conf_full_name(cf->cycle, &conf->file, 1) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_file_t  file;
    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = conf->file;
    file.log = cf->log;
    file.fd = ngx_open_file(conf->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "apikey_leak_report: cannot open keys file \"%V\"", &conf->file);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_file_info_t  fi;
    std::string      text;
    bool             read_ok = false;
    if (ngx_fd_info(file.fd, &fi) != NGX_FILE_ERROR && ngx_file_size(&fi) <= 1024 * 1024) {
        text.resize(ngx_file_size(&fi));
        read_ok = ngx_read_file(&file, reinterpret_cast<u_char *>(text.data()), text.size(), 0)
                  == static_cast<ssize_t>(text.size());
    }
    ngx_close_file(file.fd);
    if (!read_ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apikey_leak_report: cannot read keys file \"%V\" "
                           "(or it is larger than 1 MiB)", &conf->file);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    std::vector<apikey::LeakPublicKey> parsed;
    std::string problem = apikey::parse_leak_keys(text, parsed);
    if (!problem.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apikey_leak_report: keys file \"%V\" is not a secret scanning "
                           "public-keys document: %s", &conf->file, problem.c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    conf->keys = ngx_array_create(cf->pool, parsed.size(), sizeof(leak_key_t));
    if (conf->keys == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    for (const auto &k : parsed) {
        BIO *bio = BIO_new_mem_buf(k.pem.data(), static_cast<int>(k.pem.size()));
        EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (pkey == NULL || EVP_PKEY_base_id(pkey) != EVP_PKEY_EC) {
            EVP_PKEY_free(pkey);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apikey_leak_report: keys file \"%V\": the key \"%s\" is not "
                               "a PEM EC public key", &conf->file, k.identifier.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            EVP_PKEY_free(pkey);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        cln->handler = free_pkey;
        cln->data = pkey;

        auto *key = static_cast<leak_key_t *>(ngx_array_push(conf->keys));
        key->identifier = ngx_http_apikey_pool_copy(cf->pool, k.identifier);
        key->pkey = pkey;
    }

    return NGX_CONF_OK;
}

}  // namespace


// apikey_leak_report keys=FILE [action=revoke|disable|flag];
char *
ngx_http_apikey_leak_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    auto                      *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);
    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->leak) {
        return const_cast<char *>("is duplicate");
    }

    auto *leak = static_cast<ngx_http_apikey_leak_conf_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_leak_conf_t)));
    if (leak == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    leak->action = apikey::LeakAction::kRevoke;

    value = static_cast<ngx_str_t *>(cf->args->elts);

    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        std::string_view arg = ngx_http_apikey_sv(value[i]);

        if (arg.substr(0, 5) == "keys=" && arg.size() > 5) {
            leak->file.data = value[i].data + 5;
            leak->file.len = value[i].len - 5;

        } else if (arg.substr(0, 7) == "action="
                   && apikey::parse_leak_action(arg.substr(7), leak->action))
        {
            continue;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    if (leak->file.len == 0) {
        return const_cast<char *>("needs keys=FILE (the secret scanning public-keys document)");
    }

    if (load_keys(cf, leak) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    lcf->leak = leak;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = ngx_http_apikey_guard<ngx_http_apikey_leak_handler,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR>;

    return NGX_CONF_OK;
}
