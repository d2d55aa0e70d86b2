// Token format: what a key looks like on the wire, and the checks that need no Redis.
//
//   ak_live_<id>_<secret><check>     a live key (minted since issue 14)
//   ak_test_<id>_<secret><check>     a test key
//   ak_<id>_<secret><check>          a key minted before: still valid, its
//                                    environment is the record's (absent = live)
//
//   id     12 characters of [0-9a-z]: the key's public id, also its Redis hash tag
//   secret 40 characters of base62 from a CSPRNG (238 bits)
//   check  6 characters of base62: CRC32 of everything before it, the
//          environment included, so a token cannot be moved from test to live
//          by editing its prefix
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
inline constexpr std::string_view kLivePrefix = "ak_live_";
inline constexpr std::string_view kTestPrefix = "ak_test_";
inline constexpr std::size_t kIdLength = 12;
inline constexpr std::size_t kSecretLength = 40;
inline constexpr std::size_t kCheckLength = 6;
// ak_live_... and ak_test_... (both prefixes have the same length)
inline constexpr std::size_t kTokenLength =
    kLivePrefix.size() + kIdLength + 1 + kSecretLength + kCheckLength;
// ak_... as minted before environments existed
inline constexpr std::size_t kLegacyTokenLength =
    kTokenPrefix.size() + kIdLength + 1 + kSecretLength + kCheckLength;
static_assert(kLivePrefix.size() == kTestPrefix.size());
inline constexpr std::size_t kHintLength = 4;

// Longest credential the module will consider at all; anything longer is
// malformed without further work.
inline constexpr std::size_t kMaxCredentialLength = 512;

enum class TokenShape {
    kProject,    // this project's format with a good checksum
    kForeign,    // a well-formed bearer token of some other format (imported keys)
    kMalformed,  // neither: bad characters, bad length, or a bad checksum
};

// A key's environment. A token says kLive or kTest; a token of the old format
// says nothing (kUnknown), and then the record decides (absent = live).
enum class KeyEnv {
    kUnknown,
    kLive,
    kTest,
};

struct ParsedToken {
    TokenShape shape = TokenShape::kMalformed;
    std::string_view id;          // set for kProject
    KeyEnv env = KeyEnv::kUnknown;  // kLive or kTest for the new format, else kUnknown
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
// kUnknown assembles the old format (ak_<id>_...): only tests and tools that
// must reproduce a token minted before environments existed want that.
std::string assemble_token(std::string_view id, std::string_view secret,
                           KeyEnv env = KeyEnv::kLive);

// "live" / "test" (and "" for kUnknown), as in records and variables.
std::string_view key_env_name(KeyEnv env) noexcept;

// "live" → kLive, "test" → kTest, anything else → kUnknown.
KeyEnv parse_key_env(std::string_view name) noexcept;

// The last characters of a token, kept in the record so people can recognise a key.
std::string_view token_hint(std::string_view token) noexcept;

}  // namespace apikey
