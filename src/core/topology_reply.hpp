// Decoding what Redis says about where the data lives: a cluster's slot map
// and a sentinel's answer for the master. Like every reply, input to check:
// anything unexpected is an error, never a guess.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topology.hpp"

struct redisReply;

namespace apikey {

// One row of CLUSTER SLOTS: slots first..last are served by this master.
struct SlotRange {
    int first = 0;
    int last = 0;
    HostPort master;
};

// CLUSTER SLOTS. A node that does not know its own address answers "" (or
// "?"); that is the node asked, `queried_host`.
bool decode_cluster_slots(const redisReply* reply, const std::string& queried_host,
                          std::vector<SlotRange>& out, std::string& error);

// SENTINEL get-master-addr-by-name: ["ip", "port"], or nil when the sentinel
// does not know the name.
std::optional<HostPort> decode_master_address(const redisReply* reply);

}  // namespace apikey
