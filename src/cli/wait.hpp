// --wait: a change confirmed by every nginx worker that caches keys
// (invalidation.hpp; README, "Confirmed invalidation").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "args.hpp"
#include "invalidation.hpp"
#include "store.hpp"

namespace apikey::cli {

// The exit status when some worker did not confirm within the timeout: the
// change itself is made.
inline constexpr int kExitUnconfirmed = 3;

// "--wait" and "--wait TIMEOUT" in argv become "--wait=TIMEOUT" (default
// 10s), so that Args can parse it as an option with a value; TIMEOUT is taken
// from the next word only when it is a time (an id never is: 12 base36
// characters, never only digits).
void normalize_wait(std::vector<std::string>& argv);

// The --wait option's timeout in seconds (UsageError when it is not a time
// from 1ms to 1h), or nullopt without --wait.
std::optional<double> wait_option(const Args& args);

// Publishes the key's invalidation with a fresh event id, then waits until
// every worker announced at that moment has acknowledged it or stopped, or
// `timeout` seconds have passed.
struct WaitOutcome {
    WaitState state;
    std::size_t expected = 0;
    double elapsed = 0;
};
WaitOutcome wait_for_workers(Store& store, const std::string& id, double timeout);

// Prints the outcome after the command's own output (with --json, stdout
// already holds it as a "wait" member: only the workers that did not confirm
// are named, on stderr) and returns the exit status: 0, or kExitUnconfirmed.
int finish_wait(const WaitOutcome& w, double timeout, bool json);

// Adds "wait": {...} to a JSON object's text.
std::string with_wait(const std::string& object, const WaitOutcome& w);

}  // namespace apikey::cli
