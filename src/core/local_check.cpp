#include "local_check.hpp"

#include "scope.hpp"

namespace apikey {

bool records_use(Verdict v) noexcept {
    return v == Verdict::kOk || v == Verdict::kLimited || v == Verdict::kForbidden;
}

Verdict decide_cached(const CachedRecord& r, std::int64_t now, std::string_view required,
                      std::string_view super, std::string_view& missing) noexcept {
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
    if (r.expires > 0 && now >= r.expires) {
        return Verdict::kExpired;
    }
    ScopeDecision d = check_scopes(r.scopes, required, super);
    if (!d.allowed) {
        missing = d.missing;
        return Verdict::kForbidden;
    }
    return Verdict::kOk;
}

}  // namespace apikey
