#include "credential.hpp"

#include "token.hpp"

namespace apikey {

namespace {

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) {
            return false;
        }
    }
    return true;
}

// The key inside an Authorization value, or an empty view when the value does
// not use the Bearer scheme.  `bearer` reports whether it did.
std::string_view bearer_credential(std::string_view value, bool& bearer) noexcept {
    std::size_t end = 0;
    while (end < value.size() && !is_ows(value[end])) {
        end++;
    }
    bearer = iequals(value.substr(0, end), "bearer");
    if (!bearer) {
        return {};
    }
    return trim_ows(value.substr(end));
}

}  // namespace

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

CredentialHeader credential_header(std::string_view name) noexcept {
    switch (name.size()) {
    case 11:
        if (name == "x-api-token") return kHeaderApiToken;
        break;
    case 9:
        if (name == "x-api-key") return kHeaderApiKey;
        break;
    case 13:
        if (name == "authorization") return kHeaderAuthorization;
        break;
    }
    return kHeaderNone;
}

CredentialHeader CredentialScanner::offer(std::string_view name,
                                          std::string_view value) noexcept {
    CredentialHeader kind = credential_header(name);
    if (kind == kHeaderNone) {
        return kHeaderNone;
    }

    std::string_view candidate;
    if (kind == kHeaderAuthorization) {
        bool bearer = false;
        candidate = bearer_credential(trim_ows(value), bearer);
        if (!bearer) {
            return kHeaderNone;  // Basic and friends are someone else's business
        }
    } else {
        candidate = trim_ows(value);
    }

    if (seen_ & kind) {
        repeated_ = true;
    }
    seen_ |= kind;

    if (candidate.empty()) {
        return kind;
    }

    if (carriers_ == 0) {
        key_ = candidate;
    } else if (candidate != key_) {
        conflicting_ = true;
    }
    carriers_ |= kind;
    return kind;
}

CredentialStatus CredentialScanner::status() const noexcept {
    if (repeated_ || conflicting_) {
        return CredentialStatus::kAmbiguous;
    }
    if (carriers_ == 0) {
        return CredentialStatus::kMissing;
    }
    if (key_.size() > kMaxCredentialLength || !is_b64token(key_)) {
        return CredentialStatus::kMalformed;
    }
    return CredentialStatus::kFound;
}

}  // namespace apikey
