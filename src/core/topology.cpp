#include "topology.hpp"

#include <arpa/inet.h>

#include <array>

#include "number.hpp"

namespace apikey {

std::optional<HostPort> parse_host_port(std::string_view text, int default_port) {
    HostPort hp;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos || close == 1) return std::nullopt;
        hp.host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
        }
    } else {
        std::size_t colon = text.rfind(':');
        hp.host = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) port = text.substr(colon + 1);
        if (hp.host.find(':') != std::string::npos) return std::nullopt;   // v6 needs []
    }
    if (hp.host.empty()) return std::nullopt;
    if (port.empty()) {
        if (default_port <= 0 || (text.size() && text.back() == ':')) return std::nullopt;
        hp.port = default_port;
    } else {
        auto n = parse_decimal(port);
        if (!n || *n < 1 || *n > 65535) return std::nullopt;
        hp.port = static_cast<int>(*n);
    }
    return hp;
}

std::optional<std::vector<HostPort>> parse_seed_list(std::string_view text, int default_port) {
    std::vector<HostPort> seeds;
    while (true) {
        std::size_t comma = text.find(',');
        auto hp = parse_host_port(text.substr(0, comma), default_port);
        if (!hp) return std::nullopt;
        seeds.push_back(*hp);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return seeds;
}

namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
    std::array<std::uint16_t, 256> t{};
    for (int n = 0; n < 256; n++) {
        std::uint16_t c = static_cast<std::uint16_t>(n << 8);
        for (int k = 0; k < 8; k++) {
            c = (c & 0x8000) ? static_cast<std::uint16_t>((c << 1) ^ 0x1021)
                             : static_cast<std::uint16_t>(c << 1);
        }
        t[n] = c;
    }
    return t;
}

constexpr auto kCrc16 = make_crc16_table();

}  // namespace

int key_slot(std::string_view key) noexcept {
    std::size_t open = key.find('{');
    if (open != std::string_view::npos) {
        std::size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    std::uint16_t crc = 0;
    for (unsigned char c : key) {
        crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16[((crc >> 8) ^ c) & 0xFF]);
    }
    return crc % kClusterSlots;
}

std::optional<Redirect> parse_redirect(std::string_view error) {
    Redirect r;
    if (error.rfind("MOVED ", 0) == 0) {
        error.remove_prefix(6);
    } else if (error.rfind("ASK ", 0) == 0) {
        r.ask = true;
        error.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    std::size_t space = error.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto slot = parse_decimal(error.substr(0, space));
    if (!slot || *slot >= kClusterSlots) return std::nullopt;

    // Redis writes the endpoint as "ip:port" with a bare IPv6 address
    // ("::1:6381"), or ":port" when the node's address is unknown (then it
    // is the node that answered: an empty host)
    std::string_view endpoint = error.substr(space + 1);
    std::size_t colon = endpoint.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = endpoint.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.find_first_of(" []") != std::string_view::npos) return std::nullopt;
    auto port = parse_decimal(endpoint.substr(colon + 1));
    if (!port || *port < 1 || *port > 65535) return std::nullopt;

    r.slot = static_cast<int>(*slot);
    r.to.host = std::string(host);
    r.to.port = static_cast<int>(*port);
    return r;
}

std::optional<MasterSwitch> parse_switch_master(std::string_view message) {
    std::string_view words[5];
    for (auto& w : words) {
        std::size_t space = message.find(' ');
        w = message.substr(0, space);
        if (w.empty()) return std::nullopt;
        message = space == std::string_view::npos ? std::string_view() : message.substr(space + 1);
    }
    if (!message.empty()) return std::nullopt;
    auto port = parse_decimal(words[4]);
    if (!port || *port < 1 || *port > 65535) return std::nullopt;
    return MasterSwitch{std::string(words[0]), HostPort{std::string(words[3]), static_cast<int>(*port)}};
}

bool numeric_host(const std::string& host) noexcept {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace apikey
