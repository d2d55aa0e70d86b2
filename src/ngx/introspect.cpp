// apikey_introspect: the calling key's own record, so an integrator can test a
// key before wiring it into a larger job. The access phase has already checked
// the key (apikey_introspect implies apikey on); this only renders what the
// check returned, so it costs no extra Redis round trip.
#include "ngx_http_apikey_module.hpp"
#include "guard.hpp"

#include <string>

#include "duration.hpp"
#include "json.hpp"
#include "meta.hpp"
#include "scope.hpp"



static std::string
ngx_http_apikey_introspection(ngx_http_apikey_ctx_t *ctx)
{
    apikey::JsonObject  json;
    std::string         scopes = "[";

    for (auto s : apikey::split_scopes(ngx_http_apikey_sv(ctx->scopes))) {
        if (scopes.size() > 1) scopes.push_back(',');
        apikey::append_json_string(scopes, s);
    }
    scopes.push_back(']');

    json.field("id", ngx_http_apikey_sv(ctx->id));
    json.field("name", ngx_http_apikey_sv(ctx->name));
    json.raw_field("scopes", scopes);
    json.field("status", "active");
    json.field("hint", ngx_http_apikey_sv(ctx->hint));
    json.field("created_at", apikey::format_utc(ctx->created));

    // the key model (issue 14): who the key belongs to, under which role and
    // plan, in which environment, its metadata and where it may be used from
    auto optional = [&](const char *name, const ngx_str_t &value) {
        if (value.len == 0) {
            json.null_field(name);
        } else {
            json.field(name, ngx_http_apikey_sv(value));
        }
    };
    optional("owner", ctx->owner);
    optional("role", ctx->role);
    optional("plan", ctx->plan);
    json.field("env", ctx->env.len ? ngx_http_apikey_sv(ctx->env) : std::string_view("live"));

    std::string meta = "{";
    std::string error;
    if (auto members = apikey::parse_meta(ngx_http_apikey_sv(ctx->meta), error)) {
        for (const auto &[name, value] : *members) {
            if (meta.size() > 1) meta.push_back(',');
            apikey::append_json_string(meta, name);
            meta.push_back(':');
            apikey::append_json_string(meta, value);
        }
    }
    meta.push_back('}');
    json.raw_field("meta", meta);

    std::string allow = "[";
    for (auto cidr : apikey::split_scopes(ngx_http_apikey_sv(ctx->allow_ip))) {
        if (allow.size() > 1) allow.push_back(',');
        apikey::append_json_string(allow, cidr);
    }
    allow.push_back(']');
    json.raw_field("allow_ip", allow);

    if (ctx->expires > 0) {
        json.field("expires_at", apikey::format_utc(ctx->expires));
    } else {
        json.null_field("expires_at");
    }

    if (ctx->last_used > 0) {
        json.field("last_used_at", apikey::format_utc(ctx->last_used));
    } else {
        json.null_field("last_used_at");
    }

    // the token presented is the previous one of a rotation with grace
    if (ctx->token_until > 0) {
        json.field("token_valid_until", apikey::format_utc(ctx->token_until));
    } else {
        json.null_field("token_valid_until");
    }

    if (ctx->has_rate) {
        apikey::JsonObject rate;
        rate.field("limit", static_cast<std::int64_t>(ctx->rate_limit))
            .field("remaining", static_cast<std::int64_t>(ctx->rate_remaining))
            .field("reset", static_cast<std::int64_t>(ctx->rate_reset))
            .field("policy", ngx_http_apikey_sv(ctx->rate_policy));
        json.raw_field("rate_limit", rate.str());
    } else {
        json.null_field("rate_limit");
    }

    // calendar quotas as this request counted them, and the credits left
    std::string quotas = "[";
    for (ngx_uint_t i = 0; i < ctx->nquotas; i++) {
        const apikey::QuotaState &q = ctx->quotas[i];
        apikey::JsonObject item;
        std::size_t slash = q.name.rfind('/');
        item.field("bucket", q.name.substr(0, slash))
            .field("period", q.name.substr(slash + 1))
            .field("limit", q.limit)
            .field("used", q.limit - q.remaining)
            .field("remaining", q.remaining)
            .field("reset", q.reset_s)
            .field("resets_at", apikey::format_utc(ctx->quota_now + q.reset_s));
        if (quotas.size() > 1) quotas.push_back(',');
        quotas += item.str();
    }
    quotas.push_back(']');
    json.raw_field("quotas", quotas);

    if (ctx->credits >= 0) {
        apikey::JsonObject credits;
        credits.field("remaining", ctx->credits);
        if (ctx->credits_reset > 0) {
            credits.field("refill_in", ctx->credits_reset);
        } else {
            credits.null_field("refill_in");
        }
        json.raw_field("credits", credits.str());
    } else {
        json.null_field("credits");
    }

    return json.str() + "\n";
}


static ngx_int_t
ngx_http_apikey_introspect_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    std::string             body;
    ngx_http_apikey_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        // the access phase let this through unchecked (no token taken): a
        // method this endpoint does not serve says so, in JSON, with Allow
        static u_char  allow[] = "GET, HEAD";

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = allow;
        h->value.len = sizeof(allow) - 1;
        h->lowcase_key = NULL;

        return ngx_http_apikey_send_body(r, NGX_HTTP_NOT_ALLOWED, "application/json",
            "{\"error\":\"method_not_allowed\",\"message\":\"this endpoint answers GET and "
            "HEAD only\"}\n");
    }

    ctx = ngx_http_apikey_get_ctx(r);

    // only a key that passed the access phase gets here; anything else is a
    // configuration the merge step refuses, or fail-open without Redis
    if (ctx == NULL || ctx->outcome != apikey::Outcome::kOk) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    body = ngx_http_apikey_introspection(ctx);

    return ngx_http_apikey_send_body(r, NGX_HTTP_OK, "application/json", body);
}


char *
ngx_http_apikey_introspect_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t  *lcf = static_cast<ngx_http_apikey_loc_conf_t *>(conf);
    ngx_http_core_loc_conf_t    *clcf;

    if (lcf->introspect == 1) {
        return const_cast<char *>("is duplicate");
    }

    lcf->introspect = 1;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = ngx_http_apikey_guard<ngx_http_apikey_introspect_handler, NGX_HTTP_INTERNAL_SERVER_ERROR>;

    return NGX_CONF_OK;
}
