// Generates allowlist cases and decides them with the C++ matcher, so that
// t/ can hold the check script's matcher (its "allow" mode) against it.
//
//   cidr_trace SEED N   prints N lines: canonical list <TAB> client text <TAB>
//                       client as 32 hex digits <TAB> 1|0 (cidr_list_allows)
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "cidr.hpp"

using namespace apikey;

namespace {

std::string v4_text(const IpAddress& a) {
    return std::to_string(a[12]) + "." + std::to_string(a[13]) + "." + std::to_string(a[14]) +
           "." + std::to_string(a[15]);
}

std::string v6_text(const IpAddress& a) {
    Cidr c;
    c.network = a;
    c.bits = 128;
    std::string s = format_cidr(c);
    return s.substr(0, s.size() - 4);   // without "/128"
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: cidr_trace SEED N\n");
        return 2;
    }
    std::mt19937_64 rng(std::strtoull(argv[1], nullptr, 10));
    int n = std::atoi(argv[2]);
    auto byte = [&] { return static_cast<std::uint8_t>(rng() & 0xff); };

    for (int i = 0; i < n; i++) {
        // a list of one to three networks, of either family
        std::string raw;
        IpAddress base{};
        unsigned base_bits = 0;
        bool base_v4 = false;
        int entries = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < entries; e++) {
            IpAddress a{};
            bool v4 = rng() % 2;
            // few distinct values, so that networks and clients meet often
            for (auto& b : a) b = (rng() % 4 == 0) ? byte() : static_cast<std::uint8_t>(rng() % 3);
            std::string text;
            unsigned bits;
            if (v4) {
                bits = static_cast<unsigned>(rng() % 33);
                a[10] = a[11] = 0xff;
                for (int k = 0; k < 10; k++) a[k] = 0;
                text = v4_text(a) + "/" + std::to_string(bits);
            } else {
                bits = static_cast<unsigned>(rng() % 129);
                text = v6_text(a) + "/" + std::to_string(bits);
            }
            if (e == 0) {
                base = a;
                base_bits = v4 ? 96 + bits : bits;
                base_v4 = v4;
            }
            raw += (e ? " " : "") + text;
        }
        std::string error;
        auto list = canonical_cidr_list(raw, &error);
        if (!list) {
            std::fprintf(stderr, "cidr_trace: %s: %s\n", raw.c_str(), error.c_str());
            return 1;
        }

        // clients: inside the first network, just outside it, anywhere
        for (int k = 0; k < 4; k++) {
            IpAddress c = base;
            if (k == 0 || k == 1) {
                for (unsigned bit = base_bits; bit < 128; bit++) {
                    if (rng() % 2) c[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
                }
                if (k == 1 && base_bits > (base_v4 ? 96u : 0u)) {
                    unsigned bit = base_bits - 1;   // the last bit of the prefix
                    c[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
                }
            } else {
                for (auto& b : c) b = byte();
                if (k == 3) {
                    for (int m = 0; m < 10; m++) c[m] = 0;
                    c[10] = c[11] = 0xff;
                }
            }
            bool mapped = c[10] == 0xff && c[11] == 0xff;
            for (int m = 0; m < 10; m++) mapped = mapped && c[m] == 0;
            std::string text = mapped ? v4_text(c) : v6_text(c);
            std::array<char, 32> hex;
            if (!ip_address_hex(text, &hex)) {
                std::fprintf(stderr, "cidr_trace: %s does not parse\n", text.c_str());
                return 1;
            }
            std::printf("%s\t%s\t%.32s\t%d\n", list->c_str(), text.c_str(), hex.data(),
                        cidr_list_allows(*list, text) ? 1 : 0);
        }
    }
    return 0;
}
