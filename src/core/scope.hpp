// Scopes: what a key may do.
//
// A scope is an OAuth 2.0 scope token (RFC 6749 section 3.3): printable ASCII
// without space, double quote or backslash. A key holds a space-separated list.
// A request needs every scope its matching `apikey_scope` lines name; a key
// holding any configured superscope satisfies every check.
//
// The same rule is written in Lua inside the check script (it must run there so
// that a 403 takes no rate-limit token); tests hold the two to each other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace apikey {

inline constexpr std::size_t kMaxScopeLength = 128;

// What a request needs when its location has method-specific `apikey_scope`
// lines and none names its method (PURGE where only GET and POST are named):
// a scope no key can hold, so that only a superscope lets it through. It is
// what WWW-Authenticate's scope= says for that refusal. valid_scope() refuses
// it, so no key record, `apikey_scope` or `apikey_superscope` can name it.
inline constexpr std::string_view kUnlistedMethodScope = "apikey:unlisted-method";

// A scope a key may hold and a location may name.
bool valid_scope(std::string_view scope) noexcept;

// Splits a space-separated list; runs of spaces are one separator.
std::vector<std::string_view> split_scopes(std::string_view list);

// True when every scope in a space-separated list is valid (an empty list is).
bool valid_scope_list(std::string_view list) noexcept;

struct ScopeDecision {
    bool allowed = true;
    std::string_view missing;  // first required scope the key lacks
};

// `held`, `required` and `super` are space-separated lists.
ScopeDecision check_scopes(std::string_view held, std::string_view required,
                           std::string_view super) noexcept;

// Joins scopes into the canonical stored form: deduplicated, in first-seen order.
std::string join_scopes(const std::vector<std::string>& scopes);

}  // namespace apikey
