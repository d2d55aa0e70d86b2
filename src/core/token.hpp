// Token format: what a key looks like on the wire, and the checks that need no Redis.
//
//   ak_<id>_<secret><check>
//
//   id     12 characters of [0-9a-z]: the key's public id, also its Redis hash tag
//   secret 40 characters of base62 from a CSPRNG (238 bits)
//   check  6 characters of base62: CRC32 of everything before it
//
// The checksum (as in GitHub's token format) lets the module answer a mistyped or
// made-up token with 401 without a Redis round trip.  It is not a secret: anyone can
// compute it, so it proves nothing about validity; only the stored digest does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace apikey {

inline constexpr std::string_view kTokenPrefix = "ak_";
inline constexpr std::size_t kIdLength = 12;
inline constexpr std::size_t kSecretLength = 40;
inline constexpr std::size_t kCheckLength = 6;
inline constexpr std::size_t kTokenLength =
    kTokenPrefix.size() + kIdLength + 1 + kSecretLength + kCheckLength;
inline constexpr std::size_t kHintLength = 4;

// Longest credential the module will consider at all; anything longer is
// malformed without further work.
inline constexpr std::size_t kMaxCredentialLength = 512;

enum class TokenShape {
    kProject,    // this project's format with a good checksum
    kForeign,    // a well-formed bearer token of some other format (imported keys)
    kMalformed,  // neither: bad characters, bad length, or a bad checksum
};

struct ParsedToken {
    TokenShape shape = TokenShape::kMalformed;
    std::string_view id;  // set for kProject
};

// Classifies a credential. Never touches Redis, never allocates.
ParsedToken parse_token(std::string_view token) noexcept;

// True when `id` has the shape of a key id.
bool valid_key_id(std::string_view id) noexcept;

// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view s) noexcept;

// CRC-32 (IEEE 802.3), as used by zlib.
std::uint32_t crc32(std::string_view data) noexcept;

// Assembles a token from its random parts; both must already be in their alphabets.
std::string assemble_token(std::string_view id, std::string_view secret);

// The last characters of a token, kept in the record so people can recognise a key.
std::string_view token_hint(std::string_view token) noexcept;

}  // namespace apikey
