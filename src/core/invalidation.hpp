// Revocation you can confirm: the invalidation message, the workers'
// announcements and their acknowledgements (README, "Confirmed invalidation").
//
// A message on <prefix>invalidate is the key's id ("old" format, what the
// admin script publishes with every change), or "ID EVENT TIME_US": the same
// invalidation, plus an event id the workers acknowledge and the publisher's
// wall clock in unix microseconds, from which the worker measures the lag.
//
// Every worker with apikey_cache announces itself in the sorted set
// <prefix>workers, member "INSTANCE:PID", score: when the announcement
// expires (Redis's clock, unix milliseconds), renewed by a timer well before.
// After dropping a key for a message with an event id, a worker adds its
// member to the set <prefix>ack:EVENT (expiring soon after). A waiter
// compares the two.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace apikey {

struct InvalidationMessage {
    std::string_view id;
    std::string_view event;        // empty: the old format, nothing to acknowledge
    std::int64_t published_us = 0; // 0: unknown
};

// nullopt for a message that is neither form (nothing is dropped then).
std::optional<InvalidationMessage> parse_invalidation(std::string_view text);

std::string invalidation_message(std::string_view id, std::string_view event,
                                 std::int64_t published_us);

// 1-64 of [A-Za-z0-9_-]: an event id (random, made by the publisher).
bool valid_event_id(std::string_view event);

// 1-128 of [A-Za-z0-9_.:-]: an instance name (apikey_cache instance=, or
// hostname:masterpid).
bool valid_instance_name(std::string_view name);

// A fresh random event id (16 base36 characters); empty if the system's
// random source fails.
std::string new_event_id();

std::string workers_key(std::string_view prefix);
std::string ack_key(std::string_view prefix, std::string_view event);
std::string worker_member(std::string_view instance, long pid);

// "INSTANCE:PID" split at the last colon (an instance may hold colons).
struct WorkerName {
    std::string instance;
    std::string pid;
};
WorkerName split_worker(std::string_view member);

// The scripts (EVAL): run with Redis's clock, so no host's clock matters.
// announce: KEYS[1] workers key, ARGV[1] member, ARGV[2] lifetime in ms.
extern const char *const kAnnounceScript;
// live workers: KEYS[1] workers key; returns the members not yet expired.
extern const char *const kLiveWorkersScript;
// acknowledge: KEYS[1] ack key, ARGV[1] member, ARGV[2] expiry in seconds.
extern const char *const kAckScript;

// How long an ack set lives: long enough for any waiter.
inline constexpr int kAckLifetimeSeconds = 300;

// Where a wait stands. `expected`: the workers announced when the message
// was published; `live`: those announced now; `acked`: those that
// acknowledged. A worker expected and not acked is pending while it is still
// announced, and gone (it stopped: nothing left to wait for) when not.
struct WaitState {
    std::vector<std::string> confirmed;
    std::vector<std::string> pending;
    std::vector<std::string> gone;

    bool done() const { return pending.empty(); }
};
WaitState wait_state(const std::vector<std::string> &expected, const std::set<std::string> &live,
                     const std::set<std::string> &acked);

// A wait's timeout: "500ms", "2s", "1m" or bare seconds ("1.5"), more than 0
// and at most `max_ms`. Milliseconds, or nullopt.
std::optional<std::int64_t> parse_wait_timeout(std::string_view text, std::int64_t max_ms);

// {"confirmed_all": bool, "confirmed": [{"instance", "worker"}...],
//  "unconfirmed": [...], "gone": [...], "elapsed_ms": N}: the CLI's --json
// "wait" member and the admin API's.
std::string wait_json(const WaitState &state, std::int64_t elapsed_ms);

// Adds "wait": {...} to a JSON object's text (an object without members too).
std::string with_wait(std::string_view object, const WaitState &state, std::int64_t elapsed_ms);

// The invalidation-lag histogram's upper bounds, microseconds.
inline constexpr std::int64_t kLagBoundsUs[] = {1000,   2500,   5000,    10000,   25000,
                                                50000,  100000, 250000,  500000,  1000000,
                                                2500000, 5000000, 10000000};
inline constexpr std::size_t kLagBuckets = sizeof(kLagBoundsUs) / sizeof(kLagBoundsUs[0]) + 1;

// The bucket of a lag (the last: above every bound); a negative lag (clocks
// apart) counts as 0.
std::size_t lag_bucket(std::int64_t lag_us);

}  // namespace apikey
