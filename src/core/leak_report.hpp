// Leaked-key reports from GitHub's secret scanning partner program
// (https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program):
// the report body, the public-keys document its signatures are checked
// against, and the feedback body the endpoint answers with. Pure: the
// signature check itself (OpenSSL) and Redis are the nginx layer's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace apikey {

// A report is a few matches; GitHub may batch many. 1 MiB holds thousands.
inline constexpr std::size_t kMaxLeakReportBody = 1024 * 1024;
inline constexpr std::size_t kMaxLeakMatches = 1000;

// One match of the report: {"token","type","url","source"}.
struct LeakMatch {
    std::string token;
    std::string type;
    std::string url;      // may be empty (the program says so)
    std::string source;
};

// The report body: a JSON array of match objects, each with a string "token";
// "type", "url" and "source" are optional strings, other members are ignored
// (the program may add some). Returns "" or what is wrong (never a token).
std::string parse_leak_report(std::string_view body, std::vector<LeakMatch>& out);

// One entry of the public-keys document
// {"public_keys":[{"key_identifier":..., "key":"-----BEGIN PUBLIC KEY-----...", "is_current":...}]}
struct LeakPublicKey {
    std::string identifier;
    std::string pem;
    bool current = false;
};

// Returns "" or what is wrong with the document. At least one key is needed.
std::string parse_leak_keys(std::string_view text, std::vector<LeakPublicKey>& out);

// What the endpoint decided about one match.
struct LeakVerdict {
    std::string token_hash;   // lower-case hex SHA-256 of the token as reported
    std::string type;         // the match's "type", echoed as "token_type"
    bool true_positive = false;
};

// The feedback body the program documents, in its hashed form (the raw token
// is never sent back):
//   [{"token_hash":"<sha256 hex>","token_type":"<type>","label":"true_positive"}]
std::string leak_feedback(const std::vector<LeakVerdict>& verdicts);

// "revoke", "disable", "flag": what is done to a key whose token leaked.
enum class LeakAction { kRevoke, kDisable, kFlag };
bool parse_leak_action(std::string_view name, LeakAction& out) noexcept;
std::string_view leak_action_name(LeakAction action) noexcept;

}  // namespace apikey
