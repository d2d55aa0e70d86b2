// The Lua script behind every check, and the shape of its reply.
#pragma once

#include <cstddef>
#include <string_view>

namespace apikey {

// Loaded once per connection with SCRIPT LOAD and called with EVALSHA.
extern const std::string_view kCheckScript;

// Bucket sets are tagged in the script's arguments: one whose lines the key's own
// limits replace (the key-wide default set), or one that always applies.
inline constexpr char kBucketSetOverridable = 'K';
inline constexpr char kBucketSetFixed = 'F';

// A reply carries at most this many buckets; the module refuses configurations
// that would need more, and the script refuses records with more than 8 own limits.
inline constexpr std::size_t kMaxBuckets = 16;

// A reply carries at most this many calendar quotas: apikey_quota lines (at
// most kMaxLocationQuotas) and the key's own (quota.hpp: kMaxOwnQuotas).
inline constexpr std::size_t kMaxLocationQuotas = 5;
inline constexpr std::size_t kMaxQuotas = kMaxLocationQuotas + 3;

// Quota items in the script's arguments: "<K|F>[O]:<set>:<N>/<period>".
inline constexpr char kQuotaPerOwner = 'O';

}  // namespace apikey
