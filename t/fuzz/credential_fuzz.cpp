// libFuzzer target: the credential rules and the token format, the first code
// that touches a client's bytes.
//
// Input: header lines "name:value", separated by '\n' (any bytes allowed in
// the value, NUL included). Invariants checked beyond "no crash, no UB":
//   - a found key is a non-empty RFC 6750 b64token of at most 512 bytes that
//     points into the input;
//   - a token this project would send to Redis has the exact shape and a valid id.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "credential.hpp"
#include "token.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    apikey::CredentialScanner scanner;
    char name[64];

    while (!input.empty()) {
        std::size_t eol = input.find('\n');
        std::string_view line = input.substr(0, eol);
        input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);

        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon > sizeof(name)) continue;
        for (std::size_t i = 0; i < colon; i++) name[i] = lower(line[i]);   // nginx lower-cases
        scanner.offer(std::string_view(name, colon), line.substr(colon + 1));
    }

    if (scanner.status() == apikey::CredentialStatus::kFound) {
        std::string_view key = scanner.key();
        require(!key.empty() && key.size() <= apikey::kMaxCredentialLength);
        require(apikey::is_b64token(key));
        require(key.data() >= reinterpret_cast<const char*>(data) &&
                key.data() + key.size() <= reinterpret_cast<const char*>(data) + size);
        require(scanner.carriers() != 0);

        apikey::ParsedToken token = apikey::parse_token(key);
        if (token.shape == apikey::TokenShape::kProject) {
            require(key.size() == apikey::kTokenLength || key.size() == apikey::kLegacyTokenLength);
            require((token.env == apikey::KeyEnv::kUnknown) == (key.size() == apikey::kLegacyTokenLength));
            require(apikey::valid_key_id(token.id));
        }
    }

    // the token parser on the raw input as well, whatever its shape
    apikey::ParsedToken raw = apikey::parse_token(
        std::string_view(reinterpret_cast<const char*>(data), size));
    if (raw.shape == apikey::TokenShape::kProject) {
        require((size == apikey::kTokenLength || size == apikey::kLegacyTokenLength) &&
                apikey::valid_key_id(raw.id));
    }
    return 0;
}
