#include "local_check.hpp"

#include "cidr.hpp"
#include "scope.hpp"

namespace apikey {

bool records_use(Verdict v) noexcept {
    return v == Verdict::kOk || v == Verdict::kLimited || v == Verdict::kForbidden;
}

bool env_accepts(std::string_view accepted, std::string_view env) noexcept {
    return accepted.empty() || accepted == (env.empty() ? std::string_view("live") : env);
}

Verdict decide_cached(const CachedRecord& r, std::int64_t now, const CheckRequest& request,
                      std::string_view& missing) noexcept {
    using State = CachedRecord::State;

    if (r.state == State::kUnknown) {
        return Verdict::kInvalid;
    }
    if (r.token_until > 0 && now >= r.token_until) {
        return Verdict::kInvalid;      // the grace of a rotation ended
    }
    if (r.state == State::kRevoked) {
        return Verdict::kRevoked;
    }
    if (r.state == State::kDisabled) {
        return Verdict::kDisabled;
    }
    if (r.expires > 0 && now >= r.expires) {
        return Verdict::kExpired;
    }
    if (!env_accepts(request.env, r.env)) {
        return Verdict::kWrongEnv;
    }
    if (!cidr_list_allows(r.allow_ip, request.client)) {
        return Verdict::kIpDenied;
    }
    ScopeDecision d = check_scopes(r.scopes, request.required, request.super);
    if (!d.allowed) {
        missing = d.missing;
        return Verdict::kForbidden;
    }
    return Verdict::kOk;
}

bool last_known_good(CachedRecord::State state, std::int64_t confirmed_at, std::int64_t now,
                     std::int64_t max_age) noexcept {
    return state == CachedRecord::State::kActive && confirmed_at > 0 && max_age > 0
           && now - confirmed_at < max_age;
}

}  // namespace apikey
