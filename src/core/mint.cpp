#include "mint.hpp"

#include <openssl/rand.h>

#include "token.hpp"

namespace apikey {

namespace {

// Uniform characters by rejection sampling: a byte is used only when it falls
// in the largest multiple of the alphabet size, so no character is favoured.
std::optional<std::string> random_string(std::string_view alphabet, std::size_t length) {
    const unsigned limit = 256 - 256 % alphabet.size();
    std::string out;
    out.reserve(length);
    unsigned char buf[64];
    while (out.size() < length) {
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            return std::nullopt;
        }
        for (unsigned char b : buf) {
            if (b < limit && out.size() < length) {
                out.push_back(alphabet[b % alphabet.size()]);
            }
        }
    }
    return out;
}

constexpr std::string_view kIdAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kSecretAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

}  // namespace

std::optional<std::string> mint_id() { return random_string(kIdAlphabet, kIdLength); }

std::optional<std::string> mint_token(const std::string& id, KeyEnv env) {
    if (env == KeyEnv::kUnknown) {
        env = KeyEnv::kLive;
    }
    auto secret = random_string(kSecretAlphabet, kSecretLength);
    if (!secret) {
        return std::nullopt;
    }
    return assemble_token(id, *secret, env);
}

}  // namespace apikey
