#include "digest.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace apikey {

namespace {

template <std::size_t N>
void to_hex(const unsigned char* bytes, std::size_t len, std::array<char, N>& out) noexcept {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < len && 2 * i + 1 < N; i++) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 0xF];
    }
}

}  // namespace

bool token_digest(std::string_view token, std::string_view secret, DigestHex& out) noexcept {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (secret.empty()) {
        if (EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr) != 1) {
            return false;
        }
    } else if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                    reinterpret_cast<const unsigned char*>(token.data()), token.size(), md,
                    &len) == nullptr) {
        return false;
    }
    if (len != 32) {
        return false;
    }
    to_hex(md, len, out);
    return true;
}

bool sha1_hex(std::string_view data, std::array<char, 40>& out) noexcept {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr) != 1 || len != 20) {
        return false;
    }
    to_hex(md, len, out);
    return true;
}

}  // namespace apikey
