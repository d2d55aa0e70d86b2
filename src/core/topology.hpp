// Where Redis is: one server, a Sentinel-managed master, or a Redis Cluster.
// The same address forms for apikey_redis and apikeyctl --redis:
//
//   127.0.0.1:6379 | [::1]:6379 | unix:/path
//   sentinel=HOST:PORT[,HOST:PORT...] master=NAME
//   cluster=HOST:PORT[,HOST:PORT...]
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apikey {

struct HostPort {
    std::string host;
    int port = 0;
    bool operator==(const HostPort& o) const { return host == o.host && port == o.port; }
};

// "host:port", "[v6]:port" (port 1-65535; default_port when absent and > 0).
std::optional<HostPort> parse_host_port(std::string_view text, int default_port = 0);

// "h:p,h:p,...": at least one.
std::optional<std::vector<HostPort>> parse_seed_list(std::string_view text, int default_port);

// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag, the
// part between the first '{' and the next '}' when not empty, else of the
// whole key; mod 16384.
inline constexpr int kClusterSlots = 16384;
int key_slot(std::string_view key) noexcept;

// A cluster's redirect error: "MOVED 3999 127.0.0.1:6381" (the slot has a new
// owner: refresh the map) or "ASK 3999 127.0.0.1:6381" (the slot is being
// migrated: send this one command there, after ASKING). IPv6 hosts come bare
// ("::1:6381"); an empty host (":6381") means the node that answered.
struct Redirect {
    bool ask = false;
    int slot = 0;
    HostPort to;
};
std::optional<Redirect> parse_redirect(std::string_view error);

// A sentinel's "+switch-master" message:
// "<master-name> <old-ip> <old-port> <new-ip> <new-port>".
struct MasterSwitch {
    std::string name;
    HostPort to;
};
std::optional<MasterSwitch> parse_switch_master(std::string_view message);

// An IPv4 or IPv6 literal. Addresses learned at run time (from sentinels and
// cluster nodes) must be: connecting to them never waits for DNS.
bool numeric_host(const std::string& host) noexcept;

}  // namespace apikey
