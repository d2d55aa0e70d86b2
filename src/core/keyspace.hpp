// Redis key names: the documented data model (README, "Redis data model").
//
//   <prefix>key:{<id>}              HASH   the key's record
//   <prefix>bucket:{<id>}:<bucket>  STRING rate-limit state of one bucket set
//
// Everything of one API key shares the hash tag {<id>}, so the check script
// touches a single Redis Cluster slot. <prefix> defaults to "apikey:".
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace apikey {

inline constexpr std::string_view kDefaultPrefix = "apikey:";
inline constexpr std::string_view kDefaultBucket = "default";

// A key name as its pieces, for a caller that writes them where it wants
// them: the module copies them into the request pool, so a check allocates
// nothing on the heap for its key names (issue 16). The views point into
// the arguments.
struct KeyName {
    std::array<std::string_view, 5> parts{};
    std::size_t size() const noexcept;
    std::string str() const;
};
KeyName record_key_name(std::string_view prefix, std::string_view id) noexcept;
KeyName bucket_key_name(std::string_view prefix, std::string_view id,
                        std::string_view bucket) noexcept;
KeyName quota_key_name(std::string_view prefix, std::string_view id) noexcept;

std::string record_key(std::string_view prefix, std::string_view id);
std::string bucket_key(std::string_view prefix, std::string_view id, std::string_view bucket);

// Calendar quota counters (quota.hpp): <prefix>quota:{<id>} per key,
// <prefix>owner_quota:<owner> per owner.
std::string quota_redis_key(std::string_view prefix, std::string_view id);
std::string owner_quota_redis_key(std::string_view prefix, std::string_view owner);

// SCAN pattern matching every record, and every bucket of one key.
std::string record_pattern(std::string_view prefix);
std::string bucket_pattern(std::string_view prefix, std::string_view id);

// Extracts the id from a record key name, or returns an empty view.
std::string_view id_of_record_key(std::string_view prefix, std::string_view key) noexcept;

// Bucket names: letters, digits, '_' and '-', at most 64.
bool valid_bucket_name(std::string_view name) noexcept;

// Prefixes: printable ASCII without space and without '{' or '}' (which
// would break the hash tag), at most 64.
bool valid_prefix(std::string_view prefix) noexcept;

}  // namespace apikey
