// Finding the one API key a request carries.
//
// Three headers may carry it: X-Api-Token, X-API-Key and Authorization with the
// Bearer scheme (RFC 6750 section 2.1; scheme name case-insensitive). The rules:
//   - a header with an empty value (after trimming) counts as absent;
//   - Authorization with any other scheme (Basic, Digest, ...) is not a key;
//   - the same credential header twice, or two headers with different keys, is
//     ambiguous: never guess which one was meant;
//   - the same key in two different headers is fine (some clients send both);
//   - the key must be an RFC 6750 b64token of at most kMaxCredentialLength bytes.
#pragma once

#include <cstdint>
#include <string_view>

namespace apikey {

enum class CredentialStatus {
    kMissing,
    kFound,
    kMalformed,
    kAmbiguous,
};

enum CredentialHeader : std::uint8_t {
    kHeaderNone = 0,
    kHeaderApiToken = 1,
    kHeaderApiKey = 2,
    kHeaderAuthorization = 4,
};

// Which credential header a (lower-case) header name is, if any.
CredentialHeader credential_header(std::string_view lowercase_name) noexcept;

class CredentialScanner {
public:
    // Feed every request header (name lower-cased, as nginx keeps it). Cheap for
    // headers that are not credential headers. Returns the header kind so the
    // caller can remember where the key came from.
    CredentialHeader offer(std::string_view lowercase_name, std::string_view value) noexcept;

    CredentialStatus status() const noexcept;

    // Valid when status() is kFound: the key, pointing into the offered value.
    std::string_view key() const noexcept { return key_; }

    // Headers that carried the key (a mask of CredentialHeader); these are the
    // ones to strip before the request goes upstream.
    std::uint8_t carriers() const noexcept { return carriers_; }

private:
    std::string_view key_;
    std::uint8_t seen_ = 0;
    std::uint8_t carriers_ = 0;
    bool repeated_ = false;
    bool conflicting_ = false;
};

// Strips optional whitespace (SP, HTAB) around a header value.
std::string_view trim_ows(std::string_view s) noexcept;

}  // namespace apikey
