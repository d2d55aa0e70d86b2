// Applying a check's reply: the verdict, the key's record, its buckets,
// quotas and credits go into the request context, and the RateLimit fields
// are worked out (store=local buckets are taken here too).
#include "check.hpp"
#include "guard.hpp"

#include <array>
#include <string>

#include "cache.hpp"
#include "check_script.hpp"
#include "local_limits.hpp"
#include "metrics.hpp"
#include "rate.hpp"
#include "rate_headers.hpp"
#include "redis_call.hpp"
#include "scope.hpp"

using apikey::Outcome;
using apikey::RedisClient;

static ngx_int_t ngx_http_apikey_store_reply(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, const apikey::CheckReply &reply);


// A check call's outcome: its reply, alone or as its element of a batch's
// reply (NULL: the connection was lost first), or no client when it could
// not be sent. Runs inside hiredis (or a retry timer): it stores the outcome
// and posts the request's wake event.
void
ngx_http_apikey_check_done(apikey::RedisCall *call, RedisClient *client, redisReply *reply)
{
    auto                *ctx = static_cast<ngx_http_apikey_ctx_t *>(call->owner);
    ngx_http_request_t  *r = ctx->request;

    if (client == NULL) {
        ctx->outcome = Outcome::kError;   // unsent: Redis is not usable now
        ngx_http_apikey_finish_check(ctx);
        return;
    }

    try {
        apikey::CheckReply  decoded;
        std::string         error;

        if (!apikey::decode_check_reply(reply, decoded, error, ctx->limit_only)) {
            ngx_http_apikey_count(redis_errors, 1);
            ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR,
                                        r->connection->log, 0,
                                        "apikey: redis check failed: %s", error.c_str());
            ctx->outcome = Outcome::kError;

        } else if (decoded.verdict == apikey::Verdict::kLate) {
            // still waited for, yet past its deadline by Redis's clock: the
            // offset learnt so far was wrong (the first check, or a clock
            // stepped); it is learnt afresh from this reply
            ngx_http_apikey_learn_clock(decoded.now_ms,
                                        ngx_http_apikey_now_us() - call->sent_us, true);
            ngx_http_apikey_count(redis_errors, 1);
            ngx_http_apikey_log_limited(NGX_HTTP_APIKEY_LOG_REPLY, NGX_LOG_ERR,
                                        r->connection->log, 0,
                                        "apikey: redis ran the check after its deadline by "
                                        "redis's clock: the clocks of nginx and redis disagree");
            ctx->outcome = Outcome::kError;

        } else {
            ngx_http_apikey_learn_clock(decoded.now_ms,
                                        ngx_http_apikey_now_us() - call->sent_us, false);
            if (ngx_http_apikey_store_reply(r, ctx, decoded) != NGX_OK) {
                ctx->outcome = Outcome::kError;
            }
        }

    } catch (...) {
        // the request must still be woken: logged here, not at the entry
        ngx_http_apikey_log_caught(r->connection->log, "the redis reply of a check");
        ctx->outcome = Outcome::kError;
    }

    ngx_http_apikey_finish_check(ctx);
}


// The current draft's fields (rate_headers.hpp): every bucket named after its
// set and line, in the order the script (or the local store) reports them.
static void
ngx_http_apikey_set_draft_rate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, const apikey::BucketState *buckets, size_t count)
{
    size_t                                         i, nsets, npolicies;
    apikey::PolicySet                              sets[apikey::kMaxBuckets];
    apikey::RatePolicy                             policies[apikey::kMaxPolicies];
    std::array<apikey::PolicyName, apikey::kMaxBuckets>  names;
    std::array<apikey::PolicyName, apikey::kMaxQuotas>   quota_names;
    ngx_http_apikey_bucket_set_t                  *conf_sets;

    // no buckets in a reply that has quotas: store=local takes them later
    nsets = lcf->bucket_sets && count ? ngx_min(lcf->bucket_sets->nelts, apikey::kMaxBuckets)
                                      : 0;
    conf_sets = nsets ? static_cast<ngx_http_apikey_bucket_set_t *>(lcf->bucket_sets->elts)
                      : NULL;

    for (i = 0; i < nsets; i++) {
        sets[i].name = ngx_http_apikey_sv(conf_sets[i].name);
        sets[i].lines = static_cast<const apikey::Limit *>(conf_sets[i].limits->elts);
        sets[i].count = conf_sets[i].limits->nelts;
        sets[i].overridable = conf_sets[i].overridable;
    }

    // the key's own limits (or its plan's): what the script and the local
    // store parsed for the same request
    apikey::OwnLimits own;
    if (ctx->own_limits.len
        && !apikey::parse_own_limits(ngx_http_apikey_sv(ctx->own_limits), own))
    {
        return;
    }

    if (!apikey::name_policies(sets, nsets, own.begin(), own.count, count, names)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "apikey: %uz buckets do not match the location's limits: "
                      "no RateLimit fields", count);
        return;
    }

    for (i = 0; i < count; i++) {
        policies[i] = apikey::RatePolicy{names[i].view(), buckets[i]};
    }

    // the calendar quotas follow the buckets, each a policy of its own
    npolicies = count;
    for (i = 0; i < ctx->nquotas && i < apikey::kMaxQuotas; i++) {
        if (apikey::quota_policy(ctx->quotas[i], ctx->quota_now, quota_names[i],
                                 policies[npolicies]))
        {
            npolicies++;
        }
    }

    u_char *p = static_cast<u_char *>(ngx_pnalloc(r->pool, 2 * apikey::kMaxDraftLength));
    if (p == NULL) {
        return;   // out of memory: no headers rather than wrong ones
    }
    char *policy = reinterpret_cast<char *>(p);
    char *field = policy + apikey::kMaxDraftLength;

    ctx->draft_policy.len = apikey::format_draft_policy(policies, npolicies, policy,
                                                        apikey::kMaxDraftLength);
    ctx->draft_field.len = apikey::format_draft_limit(policies, npolicies, field,
                                                      apikey::kMaxDraftLength);
    if (ctx->draft_policy.len == 0 || ctx->draft_field.len == 0) {
        return;
    }
    ctx->draft_policy.data = p;
    ctx->draft_field.data = reinterpret_cast<u_char *>(field);
    ctx->rate_headers = NGX_HTTP_APIKEY_RATELIMIT_DRAFT;
}


void
ngx_http_apikey_set_rate(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::BucketState *buckets, size_t count)
{
    ngx_http_apikey_loc_conf_t  *lcf;

    apikey::RateHeaders h = apikey::rate_headers(buckets, count);

    if (!h.present && ctx->nquotas == 0) {
        return;
    }

    if (h.present) {
        // the tightest bucket's numbers serve $apikey_rate_remaining, /me and
        // the legacy fields, whichever fields (if any) the response carries
        ctx->rate_policy.data = static_cast<u_char *>(
            ngx_pnalloc(r->pool, apikey::kMaxPolicyLength));
        if (ctx->rate_policy.data == NULL) {
            return;   // out of memory: no headers rather than wrong ones
        }
        ctx->rate_policy.len = apikey::format_policy(
            buckets, count, reinterpret_cast<char *>(ctx->rate_policy.data),
            apikey::kMaxPolicyLength);

        ctx->has_rate = 1;
        ctx->rate_limit = h.limit;
        ctx->rate_remaining = h.remaining;
        ctx->rate_reset = h.reset;
        ctx->retry_after = h.retry_after;
    }

    lcf = ctx->checked_for;
    if (lcf == NULL) {
        lcf = static_cast<ngx_http_apikey_loc_conf_t *>(
            ngx_http_get_module_loc_conf(r, ngx_http_apikey_module));
    }

    ctx->rate_headers = lcf->ratelimit_headers;

    if (lcf->ratelimit_headers == NGX_HTTP_APIKEY_RATELIMIT_DRAFT) {
        // set back to draft once both fields are made: none rather than wrong ones
        ctx->rate_headers = NGX_HTTP_APIKEY_RATELIMIT_OFF;
        try {
            ngx_http_apikey_set_draft_rate(r, ctx, lcf, buckets, count);
        } catch (...) {
            ngx_http_apikey_log_caught(r->connection->log, "the RateLimit fields");
        }
    }
}


// store=local: the buckets are in nginx; called once the record passed.
ngx_int_t
ngx_http_apikey_take_local(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf)
{
    size_t                        count = 0;
    apikey::BucketState           buckets[apikey::kMaxBuckets];
    ngx_http_apikey_main_conf_t  *mcf;

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    bool passed = ngx_http_apikey_local_take(
        mcf->local, std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len),
        lcf, std::string_view(reinterpret_cast<const char *>(ctx->own_limits.data),
                              ctx->own_limits.len),
        ngx_http_apikey_sv(ctx->owner), buckets, &count);

    ctx->outcome = apikey::outcome_of(passed ? apikey::Verdict::kOk : apikey::Verdict::kLimited);
    ngx_http_apikey_set_rate(r, ctx, buckets, count);

    return NGX_OK;
}


// The quotas and credits of a reply, for the RateLimit fields, /me and
// $apikey_credits_remaining: copied out of the redisReply into the pool.
static ngx_int_t
ngx_http_apikey_store_quotas(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::CheckReply &reply)
{
    ngx_uint_t  i;

    ctx->credits = reply.credits;
    ctx->credits_reset = reply.credits_reset_s;
    ctx->quota_now = reply.now_ms / 1000;
    ctx->nquotas = 0;

    if (reply.quota_count == 0) {
        return NGX_OK;
    }

    ctx->quotas = static_cast<apikey::QuotaState *>(
        ngx_palloc(r->pool, reply.quota_count * sizeof(apikey::QuotaState)));
    if (ctx->quotas == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply.quota_count; i++) {
        ngx_str_t name = ngx_http_apikey_pool_copy(r->pool, reply.quotas[i].name);
        if (name.data == NULL) {
            return NGX_ERROR;
        }
        new (&ctx->quotas[i]) apikey::QuotaState(reply.quotas[i]);
        ctx->quotas[i].name = ngx_http_apikey_sv(name);
    }
    ctx->nquotas = reply.quota_count;

    return NGX_OK;
}


// Retry-After of a quota or credits refusal: when the period of the longest
// used-up quota ends, or when the credits are refilled (none without a refill).
static void
ngx_http_apikey_set_quota_retry(ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t  i;

    if (ctx->outcome == Outcome::kCreditsExhausted) {
        ctx->retry_after = ctx->credits_reset;

    } else if (ctx->outcome == Outcome::kQuotaExceeded) {
        ctx->retry_after = 0;
        for (i = 0; i < ctx->nquotas; i++) {
            if (ctx->quotas[i].exceeded) {
                ctx->retry_after = ngx_max(ctx->retry_after, ctx->quotas[i].reset_s);
            }
        }
    }
}


// The limits of a reply, whichever its mode: the RateLimit fields, the
// quotas' Retry-After, and the store=local buckets once everything passed.
static ngx_int_t
ngx_http_apikey_store_limits(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    ngx_http_apikey_loc_conf_t *lcf, const apikey::CheckReply &reply)
{
    ngx_http_apikey_set_rate(r, ctx, reply.buckets.data(), reply.bucket_count);
    ngx_http_apikey_set_quota_retry(ctx);

    if (ctx->outcome == Outcome::kOk && lcf->local_limits && lcf->bucket_sets
        && lcf->bucket_sets->nelts)
    {
        return ngx_http_apikey_take_local(r, ctx, lcf);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_store_reply(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx,
    const apikey::CheckReply &reply)
{
    ngx_http_apikey_loc_conf_t   *lcf = ctx->checked_for;
    ngx_http_apikey_main_conf_t  *mcf;

    ctx->outcome = apikey::outcome_of(reply.verdict);

    if (ngx_http_apikey_store_quotas(r, ctx, reply) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->limit_only) {
        // after a cache hit the record is known: only the buckets, quotas
        // and credits are news
        return ngx_http_apikey_store_limits(r, ctx, lcf, reply);
    }

    mcf = static_cast<ngx_http_apikey_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_apikey_module));

    if (ctx->cache_store && mcf->cache) {
        apikey::CachedRecord cached;
        cached.id = std::string_view(reinterpret_cast<const char *>(ctx->id.data), ctx->id.len);
        cached.clock_offset_ms = ngx_http_apikey_redis_offset_ms();
        if (reply.verdict != apikey::Verdict::kInvalid) {
            cached.state = reply.verdict == apikey::Verdict::kRevoked
                           ? apikey::CachedRecord::State::kRevoked
                           : reply.verdict == apikey::Verdict::kDisabled
                           ? apikey::CachedRecord::State::kDisabled
                           : apikey::CachedRecord::State::kActive;
            cached.name = reply.name;
            cached.scopes = reply.scopes;
            cached.hint = reply.hint;
            cached.limits = reply.limits;
            cached.owner = reply.owner;
            cached.role = reply.role;
            cached.plan = reply.plan;
            cached.env = reply.env;
            cached.meta = reply.meta;
            cached.allow_ip = reply.allow_ip;
            cached.quota = reply.quota;
            cached.has_credits = reply.credits >= 0;
            cached.expires = reply.expires;
            cached.created = reply.created;
            cached.last_used = reply.last_used;
            cached.token_until = reply.token_until;
        }
        ngx_http_apikey_cache_store(mcf->cache, ctx->digest_bin, cached, ctx->cache_generation);
    }

    if (reply.verdict == apikey::Verdict::kInvalid) {
        ngx_str_null(&ctx->id);   // the secret did not match: the claimed id is not proven
        return NGX_OK;
    }

    ctx->name = ngx_http_apikey_pool_copy(r->pool, reply.name);
    ctx->scopes = ngx_http_apikey_pool_copy(r->pool, reply.scopes);
    ctx->missing_scope = ngx_http_apikey_pool_copy(r->pool, reply.missing_scope);
    ctx->hint = ngx_http_apikey_pool_copy(r->pool, reply.hint);
    ctx->own_limits = ngx_http_apikey_pool_copy(r->pool, reply.limits);
    ctx->owner = ngx_http_apikey_pool_copy(r->pool, reply.owner);
    ctx->role = ngx_http_apikey_pool_copy(r->pool, reply.role);
    ctx->plan = ngx_http_apikey_pool_copy(r->pool, reply.plan);
    ctx->env = ngx_http_apikey_pool_copy(r->pool, reply.env);
    ctx->meta = ngx_http_apikey_pool_copy(r->pool, reply.meta);
    ctx->allow_ip = ngx_http_apikey_pool_copy(r->pool, reply.allow_ip);
    ctx->own_quota = ngx_http_apikey_pool_copy(r->pool, reply.quota);
    ctx->has_credits = reply.credits >= 0;
    ctx->expires = reply.expires;
    ctx->created = reply.created;
    ctx->last_used = reply.last_used;
    ctx->token_until = reply.token_until;

    if ((reply.name.size() && ctx->name.data == NULL)
        || (reply.scopes.size() && ctx->scopes.data == NULL)
        || (reply.missing_scope.size() && ctx->missing_scope.data == NULL)
        || (reply.hint.size() && ctx->hint.data == NULL)
        || (reply.limits.size() && ctx->own_limits.data == NULL)
        || (reply.owner.size() && ctx->owner.data == NULL)
        || (reply.role.size() && ctx->role.data == NULL)
        || (reply.plan.size() && ctx->plan.data == NULL)
        || (reply.env.size() && ctx->env.data == NULL)
        || (reply.meta.size() && ctx->meta.data == NULL)
        || (reply.allow_ip.size() && ctx->allow_ip.data == NULL)
        || (reply.quota.size() && ctx->own_quota.data == NULL))
    {
        return NGX_ERROR;
    }

    return ngx_http_apikey_store_limits(r, ctx, lcf, reply);
}
