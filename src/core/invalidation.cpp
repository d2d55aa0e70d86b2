#include "invalidation.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>

#include "json.hpp"

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
    if (!valid_event_id(m.event) || time.empty() || time.size() > 18
        || !std::all_of(time.begin(), time.end(), [](char c) { return c >= '0' && c <= '9'; }))
    {
        return std::nullopt;   // digits only: no sign ("-0")
    }
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

std::optional<std::int64_t> parse_wait_timeout(std::string_view text, std::int64_t max_ms) {
    std::int64_t unit_ms = 1000;
    std::string_view number = text;
    if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
        unit_ms = 1;
        number = text.substr(0, text.size() - 2);
    } else if (!text.empty() && text.back() == 's') {
        number = text.substr(0, text.size() - 1);
    } else if (!text.empty() && text.back() == 'm') {
        unit_ms = 60000;
        number = text.substr(0, text.size() - 1);
    }
    // digits, then at most three decimals of the unit
    std::size_t dot = number.find('.');
    std::string_view whole = number.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? std::string_view() : number.substr(dot + 1);
    if (whole.empty() || whole.size() > 9 || frac.size() > 3
        || (dot != std::string_view::npos && frac.empty()))
    {
        return std::nullopt;
    }
    auto digits = [](std::string_view s) {
        return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(whole) || !digits(frac)) return std::nullopt;
    std::int64_t w = std::stoll(std::string(whole));
    std::int64_t f = 0;
    for (std::size_t i = 0; i < 3; i++) f = f * 10 + (i < frac.size() ? frac[i] - '0' : 0);
    std::int64_t ms = w * unit_ms + f * unit_ms / 1000;
    if (ms <= 0 || ms > max_ms) return std::nullopt;
    return ms;
}

namespace {

std::string workers_json(const std::vector<std::string> &ws) {
    std::string out = "[";
    for (const auto &w : ws) {
        WorkerName name = split_worker(w);
        if (out.size() > 1) out += ",";
        JsonObject o;
        o.field("instance", name.instance).field("worker", name.pid);
        out += o.str();
    }
    return out + "]";
}

}  // namespace

std::string wait_json(const WaitState &state, std::int64_t elapsed_ms) {
    JsonObject o;
    o.field("confirmed_all", state.done())
        .raw_field("confirmed", workers_json(state.confirmed))
        .raw_field("unconfirmed", workers_json(state.pending))
        .raw_field("gone", workers_json(state.gone))
        .field("elapsed_ms", elapsed_ms);
    return o.str();
}

std::string with_wait(std::string_view object, const WaitState &state, std::int64_t elapsed_ms) {
    std::string out(object);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (out.empty() || out.back() != '}') return std::string(object);
    out.pop_back();
    bool empty = out.find_last_not_of(" \n") == 0;   // "{"
    out += (empty ? "\"wait\":" : ",\"wait\":") + wait_json(state, elapsed_ms) + "}";
    return out;
}

std::size_t lag_bucket(std::int64_t lag_us) {
    std::size_t i = 0;
    while (i + 1 < kLagBuckets && lag_us > kLagBoundsUs[i]) i++;
    return i;
}

}  // namespace apikey
