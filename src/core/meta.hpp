// A key's metadata (record field `meta`): a flat JSON object of string values,
// e.g. {"tenant":"t-42","tier":"gold"}. Names are [a-z0-9_]{1,32}; values at
// most 256 bytes of UTF-8 without control characters (text.hpp's rules for
// names); at most 16 members; no duplicate names.
//
// Two readers: parse_meta (the CLI, the admin API, record decoding; built on
// the strict JSON parser) and the request path's (valid_meta_json,
// meta_value), which allocate nothing and agree with it on what is valid.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apikey {

inline constexpr std::size_t kMaxMetaEntries = 16;
inline constexpr std::size_t kMaxMetaName = 32;
inline constexpr std::size_t kMaxMetaValue = 256;
// Longest text a valid `meta` can have: every value byte as \u00XX at worst.
inline constexpr std::size_t kMaxMetaJson =
    2 + kMaxMetaEntries * (kMaxMetaName + 2 + 1 + 2 + 6 * kMaxMetaValue + 1);

using Meta = std::vector<std::pair<std::string, std::string>>;

bool valid_meta_name(std::string_view name) noexcept;

// What is wrong with a value, or "" when nothing is.
std::string meta_value_problem(std::string_view value);

// The record's text → its members, in order. An empty text is no metadata.
std::optional<Meta> parse_meta(std::string_view json, std::string& error) noexcept;

// The request path: true for "" and for a text parse_meta accepts.
bool valid_meta_json(std::string_view json) noexcept;

// Decodes member `name` of a valid text into out[0..cap) (cap >= 256 always
// suffices); returns its length, or nullopt when there is no such member.
std::optional<std::size_t> meta_value(std::string_view json, std::string_view name, char* out,
                                      std::size_t cap) noexcept;

}  // namespace apikey
