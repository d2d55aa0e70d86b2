// The only form in which a token is ever stored: its digest.
//
// Without a secret the digest is SHA-256 of the token; with one (the optional
// server-side pepper, `apikey_hash_secret` / `--hash-secret-file`) it is
// HMAC-SHA256(secret, token), so a copy of Redis alone cannot test guesses.
// Tokens carry at least 192 random bits, so a plain hash is already enough
// against brute force; the pepper matters for imported legacy tokens.
#pragma once

#include <array>
#include <string_view>

namespace apikey {

inline constexpr std::size_t kDigestHexLength = 64;
using DigestHex = std::array<char, kDigestHexLength>;

// Lower-case hex. Returns false only if OpenSSL fails.
bool token_digest(std::string_view token, std::string_view secret, DigestHex& out) noexcept;

// The 32 bytes a hex digest stands for (the cache's key).
void digest_bytes(const DigestHex& hex, unsigned char out[32]) noexcept;

// Where an imported key lives. A legacy token carries no id, so the id is
// derived from the token: the first 8 bytes of the (peppered) digest of
// "apikey-import-id\n" + token, in 12 base36 characters. The domain prefix keeps
// it unrelated to the stored digest, so an id in a log line reveals nothing of it.
inline constexpr std::size_t kImportedIdLength = 12;
bool imported_key_id(std::string_view token, std::string_view secret,
                     std::array<char, kImportedIdLength>& out) noexcept;

// The shortest legacy token apikeyctl imports and the module looks up.
inline constexpr std::size_t kMinImportedTokenLength = 16;

// SHA-1 in hex, as Redis names scripts (EVALSHA).
bool sha1_hex(std::string_view data, std::array<char, 40>& out) noexcept;

}  // namespace apikey
