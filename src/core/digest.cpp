#include "digest.hpp"

#include <cstdint>
#include <cstring>
#include <new>

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

// OpenSSL 3 looks an algorithm up on every EVP_Digest(..., EVP_sha256(), ...)
// (an implicit fetch, with locks); fetching once and keeping a context saves
// that on every request. One per process, kept for its life (nginx workers and
// apikeyctl are single-threaded; no destructor to run from an unloaded module).
bool sha256(std::string_view data, unsigned char* md, unsigned int* len) noexcept {
    struct Sha256 {
        EVP_MD* md;
        EVP_MD_CTX* ctx;
    };
    static Sha256* s = new (std::nothrow) Sha256{EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                 EVP_MD_CTX_new()};
    return s && s->md && s->ctx && EVP_DigestInit_ex(s->ctx, s->md, nullptr) == 1 &&
           EVP_DigestUpdate(s->ctx, data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(s->ctx, md, len) == 1;
}

}  // namespace

bool token_digest(std::string_view token, std::string_view secret, DigestHex& out) noexcept {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (secret.empty()) {
        if (!sha256(token, md, &len)) {
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

void digest_bytes(const DigestHex& hex, unsigned char out[32]) noexcept {
    auto nibble = [](char c) {
        return static_cast<unsigned char>(c <= '9' ? c - '0' : c - 'a' + 10);
    };
    for (std::size_t i = 0; i < 32; i++) {
        out[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    }
}

bool imported_key_id(std::string_view token, std::string_view secret,
                     std::array<char, kImportedIdLength>& out) noexcept {
    static constexpr std::string_view kDomain = "apikey-import-id\n";
    static constexpr char kBase36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    if (token.size() > 4096) {
        return false;
    }
    char input[4096 + 32];
    std::memcpy(input, kDomain.data(), kDomain.size());
    std::memcpy(input + kDomain.size(), token.data(), token.size());
    DigestHex hex;
    if (!token_digest(std::string_view(input, kDomain.size() + token.size()), secret, hex)) {
        return false;
    }
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < 16; i++) {
        char c = hex[i];
        n = (n << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    for (std::size_t i = kImportedIdLength; i-- > 0;) {
        out[i] = kBase36[n % 36];
        n /= 36;
    }
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
