#include "outcome.hpp"

#include "duration.hpp"
#include "json.hpp"

namespace apikey {

Outcome outcome_of(Verdict v) noexcept {
    switch (v) {
    case Verdict::kOk: return Outcome::kOk;
    case Verdict::kLimited: return Outcome::kLimited;
    case Verdict::kForbidden: return Outcome::kForbidden;
    case Verdict::kInvalid: return Outcome::kInvalid;
    case Verdict::kRevoked: return Outcome::kRevoked;
    case Verdict::kExpired: return Outcome::kExpired;
    case Verdict::kLate: return Outcome::kError;
    case Verdict::kDisabled: return Outcome::kDisabled;
    case Verdict::kWrongEnv: return Outcome::kWrongEnvironment;
    case Verdict::kIpDenied: return Outcome::kIpNotAllowed;
    case Verdict::kQuotaExceeded: return Outcome::kQuotaExceeded;
    case Verdict::kCreditsExhausted: return Outcome::kCreditsExhausted;
    }
    return Outcome::kError;
}

std::string_view result_word(Outcome o) noexcept {
    switch (o) {
    case Outcome::kOk: return "ok";
    case Outcome::kMissing: return "missing";
    case Outcome::kMalformed:
    case Outcome::kAmbiguous: return "malformed";
    case Outcome::kInvalid: return "invalid";
    case Outcome::kRevoked: return "revoked";
    case Outcome::kExpired: return "expired";
    case Outcome::kForbidden: return "forbidden";
    case Outcome::kLimited: return "limited";
    case Outcome::kError: return "error";
    case Outcome::kInsecure: return "insecure";
    case Outcome::kDisabled: return "disabled";
    case Outcome::kWrongEnvironment: return "wrong_environment";
    case Outcome::kIpNotAllowed: return "ip_not_allowed";
    case Outcome::kQuotaExceeded: return "quota_exceeded";
    case Outcome::kCreditsExhausted: return "credits_exhausted";
    }
    return "error";
}

std::string_view error_code(Outcome o) noexcept {
    switch (o) {
    case Outcome::kOk: return "";
    case Outcome::kMissing: return "missing_key";
    case Outcome::kMalformed: return "malformed_key";
    case Outcome::kAmbiguous: return "ambiguous_key";
    case Outcome::kInvalid: return "invalid_key";
    case Outcome::kRevoked: return "revoked_key";
    case Outcome::kExpired: return "expired_key";
    case Outcome::kForbidden: return "insufficient_scope";
    case Outcome::kLimited: return "rate_limited";
    case Outcome::kError: return "auth_unavailable";
    case Outcome::kInsecure: return "tls_required";
    case Outcome::kDisabled: return "key_disabled";
    case Outcome::kWrongEnvironment: return "wrong_environment";
    case Outcome::kIpNotAllowed: return "ip_not_allowed";
    case Outcome::kQuotaExceeded: return "quota_exceeded";
    case Outcome::kCreditsExhausted: return "credits_exhausted";
    }
    return "auth_unavailable";
}

int http_status(Outcome o) noexcept {
    switch (o) {
    case Outcome::kOk: return 0;
    case Outcome::kForbidden:
    case Outcome::kInsecure:
    case Outcome::kWrongEnvironment:
    case Outcome::kIpNotAllowed: return 403;
    case Outcome::kLimited:
    case Outcome::kQuotaExceeded:
    case Outcome::kCreditsExhausted: return 429;
    case Outcome::kError: return 503;
    default: return 401;
    }
}

std::string_view fixed_denial_body(Outcome o) {
    static const std::string bodies[] = {
        "", denial_body(Outcome::kMissing, {}), denial_body(Outcome::kMalformed, {}),
        denial_body(Outcome::kAmbiguous, {}), denial_body(Outcome::kInvalid, {}),
        denial_body(Outcome::kRevoked, {}), "", "", "", denial_body(Outcome::kError, {}),
        denial_body(Outcome::kInsecure, {}), denial_body(Outcome::kDisabled, {}),
        denial_body(Outcome::kWrongEnvironment, {}), denial_body(Outcome::kIpNotAllowed, {}),
        "", "",
    };
    static_assert(sizeof(bodies) / sizeof(bodies[0]) ==
                  static_cast<std::size_t>(Outcome::kCreditsExhausted) + 1);
    return bodies[static_cast<std::size_t>(o)];
}

std::string denial_body(Outcome o, const DenialDetails& d) {
    JsonObject json;
    json.field("error", error_code(o));
    switch (o) {
    case Outcome::kMissing:
        json.field("message",
                   "No API key was sent. Send it in the X-API-Key or X-Api-Token header, "
                   "or as Authorization: Bearer <key>.");
        break;
    case Outcome::kMalformed:
        json.field("message", "The API key is not well-formed. Check that it was copied whole.");
        break;
    case Outcome::kAmbiguous:
        json.field("message",
                   "More than one API key was sent, or a key header was repeated. "
                   "Send exactly one key.");
        break;
    case Outcome::kInvalid:
        json.field("message", "The API key is not valid.");
        break;
    case Outcome::kRevoked:
        json.field("message", "The API key has been revoked.");
        break;
    case Outcome::kExpired:
        json.field("message", "The API key expired at " + format_utc(d.expired_at) + ".");
        json.field("expired_at", format_utc(d.expired_at));
        break;
    case Outcome::kForbidden: {
        std::string scope(d.required_scope);
        json.field("message",
                   "The API key lacks the scope \"" + scope + "\" that this request requires.");
        json.field("required_scope", d.required_scope);
        break;
    }
    case Outcome::kLimited:
        json.field("message", "Rate limit exceeded. Retry after " +
                                  std::to_string(d.retry_after) + " second" +
                                  (d.retry_after == 1 ? "." : "s."));
        json.field("retry_after", d.retry_after);
        break;
    case Outcome::kError:
        json.field("message",
                   "API key verification is temporarily unavailable. Retry shortly.");
        break;
    case Outcome::kInsecure:
        json.field("message",
                   "API keys must be sent over HTTPS. This key crossed the network in clear "
                   "text: treat it as compromised, revoke it and use a new one over HTTPS.");
        break;
    case Outcome::kDisabled:
        json.field("message", "The API key is disabled. Ask its owner to enable it again.");
        break;
    case Outcome::kWrongEnvironment:
        json.field("message",
                   "This API key belongs to another environment (live or test) than this "
                   "endpoint. Use a key of the right kind.");
        break;
    case Outcome::kIpNotAllowed:
        json.field("message", "The API key may not be used from this client address.");
        break;
    case Outcome::kQuotaExceeded:
        json.field("message", "The API key has used its quota for this period. Retry after " +
                                  std::to_string(d.retry_after) + " second" +
                                  (d.retry_after == 1 ? "," : "s,") +
                                  " when the next period starts.");
        json.field("retry_after", d.retry_after);
        break;
    case Outcome::kCreditsExhausted:
        if (d.retry_after > 0) {
            json.field("message", "The API key has no credits left for this request. They are "
                                  "refilled in " + std::to_string(d.retry_after) + " second" +
                                  (d.retry_after == 1 ? "." : "s."));
            json.field("retry_after", d.retry_after);
        } else {
            json.field("message", "The API key has no credits left for this request. Ask its "
                                  "owner to add credits.");
        }
        break;
    case Outcome::kOk:
        break;
    }
    return json.str() + "\n";
}

}  // namespace apikey
