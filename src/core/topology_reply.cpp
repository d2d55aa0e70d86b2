#include "topology_reply.hpp"

#include <hiredis/hiredis.h>

#include "number.hpp"

namespace apikey {

namespace {

bool is_string(const redisReply* r) {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::optional<int> port_of(const redisReply* r) {
    std::optional<std::int64_t> n;
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) {
        n = r->integer;
    } else if (is_string(r)) {
        n = parse_decimal(std::string_view(r->str, r->len));
    }
    if (!n || *n < 1 || *n > 65535) return std::nullopt;
    return static_cast<int>(*n);
}

}  // namespace

bool decode_cluster_slots(const redisReply* reply, const std::string& queried_host,
                          std::vector<SlotRange>& out, std::string& error) {
    out.clear();
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
        error = reply != nullptr && reply->type == REDIS_REPLY_ERROR
                    ? "CLUSTER SLOTS refused: " + std::string(reply->str, reply->len)
                    : "CLUSTER SLOTS: not an array";
        return false;
    }
    for (std::size_t i = 0; i < reply->elements; i++) {
        const redisReply* row = reply->element[i];
        if (row == nullptr || row->type != REDIS_REPLY_ARRAY || row->elements < 3
            || row->element[0]->type != REDIS_REPLY_INTEGER
            || row->element[1]->type != REDIS_REPLY_INTEGER
            || row->element[2]->type != REDIS_REPLY_ARRAY || row->element[2]->elements < 2
            || !is_string(row->element[2]->element[0]))
        {
            error = "CLUSTER SLOTS: malformed row " + std::to_string(i);
            return false;
        }
        SlotRange range;
        long long first = row->element[0]->integer;
        long long last = row->element[1]->integer;
        auto port = port_of(row->element[2]->element[1]);
        if (first < 0 || last < first || last >= kClusterSlots || !port) {
            error = "CLUSTER SLOTS: bad range or port in row " + std::to_string(i);
            return false;
        }
        range.first = static_cast<int>(first);
        range.last = static_cast<int>(last);
        const redisReply* host = row->element[2]->element[0];
        range.master.host.assign(host->str, host->len);
        if (range.master.host.empty() || range.master.host == "?") {
            range.master.host = queried_host;
        }
        range.master.port = *port;
        out.push_back(std::move(range));
    }
    if (out.empty()) {
        error = "CLUSTER SLOTS: no slot is served (is the cluster created?)";
        return false;
    }
    return true;
}

std::optional<HostPort> decode_master_address(const redisReply* reply) {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || !is_string(reply->element[0]) || reply->element[0]->len == 0)
    {
        return std::nullopt;
    }
    auto port = port_of(reply->element[1]);
    if (!port) return std::nullopt;
    return HostPort{std::string(reply->element[0]->str, reply->element[0]->len), *port};
}

}  // namespace apikey
