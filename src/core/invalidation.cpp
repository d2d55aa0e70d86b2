#include "invalidation.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>

namespace apikey {

namespace {

bool all_of(std::string_view s, std::string_view extra) {
    return std::all_of(s.begin(), s.end(), [extra](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
               || extra.find(c) != std::string_view::npos;
    });
}

}  // namespace

std::optional<InvalidationMessage> parse_invalidation(std::string_view text) {
    InvalidationMessage m;
    std::size_t sp = text.find(' ');
    if (sp == std::string_view::npos) {
        // the old format: the id alone (every writer that predates events)
        if (text.empty()) return std::nullopt;
        m.id = text;
        return m;
    }
    m.id = text.substr(0, sp);
    std::string_view rest = text.substr(sp + 1);
    sp = rest.find(' ');
    if (sp == std::string_view::npos || m.id.empty()) return std::nullopt;
    m.event = rest.substr(0, sp);
    std::string_view time = rest.substr(sp + 1);
    if (!valid_event_id(m.event) || time.empty() || time.size() > 18) return std::nullopt;
    auto [end, ec] = std::from_chars(time.data(), time.data() + time.size(), m.published_us);
    if (ec != std::errc() || end != time.data() + time.size() || m.published_us < 0) {
        return std::nullopt;
    }
    return m;
}

std::string invalidation_message(std::string_view id, std::string_view event,
                                 std::int64_t published_us) {
    std::string out(id);
    out += ' ';
    out += event;
    out += ' ';
    out += std::to_string(published_us);
    return out;
}

bool valid_event_id(std::string_view event) {
    return !event.empty() && event.size() <= 64 && all_of(event, "_-");
}

bool valid_instance_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && all_of(name, "_.:-");
}

std::string new_event_id() {
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[8];
    if (RAND_bytes(buf, sizeof(buf)) != 1) return std::string();
    std::string out;
    for (unsigned char b : buf) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

std::string workers_key(std::string_view prefix) {
    return std::string(prefix) + "workers";
}

std::string ack_key(std::string_view prefix, std::string_view event) {
    return std::string(prefix) + "ack:" + std::string(event);
}

std::string worker_member(std::string_view instance, long pid) {
    return std::string(instance) + ":" + std::to_string(pid);
}

WorkerName split_worker(std::string_view member) {
    std::size_t colon = member.rfind(':');
    if (colon == std::string_view::npos) return {std::string(member), std::string()};
    return {std::string(member.substr(0, colon)), std::string(member.substr(colon + 1))};
}

// Expired members are pruned by every announcement, and the set itself lives
// no longer than the longest lifetime announced, so a Redis no nginx uses any
// more keeps nothing.
const char *const kAnnounceScript =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local life = tonumber(ARGV[2]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "redis.call('ZADD', KEYS[1], now + life, ARGV[1]) "
    "if redis.call('PTTL', KEYS[1]) < life then redis.call('PEXPIRE', KEYS[1], life) end "
    "return 1";

const char *const kLiveWorkersScript =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')";

const char *const kAckScript =
    "redis.call('SADD', KEYS[1], ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) "
    "return 1";

WaitState wait_state(const std::vector<std::string> &expected, const std::set<std::string> &live,
                     const std::set<std::string> &acked) {
    WaitState s;
    for (const auto &w : expected) {
        if (acked.count(w)) {
            s.confirmed.push_back(w);
        } else if (live.count(w)) {
            s.pending.push_back(w);
        } else {
            s.gone.push_back(w);
        }
    }
    return s;
}

std::size_t lag_bucket(std::int64_t lag_us) {
    std::size_t i = 0;
    while (i + 1 < kLagBuckets && lag_us > kLagBoundsUs[i]) i++;
    return i;
}

}  // namespace apikey
