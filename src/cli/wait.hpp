// --wait: a change confirmed by every nginx worker that caches keys
// (invalidation.hpp; README, "Confirmed invalidation").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "invalidation.hpp"
#include "store.hpp"

namespace apikey::cli {

// The exit status when some worker did not confirm within the timeout: the
// change itself is made.
inline constexpr int kExitUnconfirmed = 3;

// "--wait", "--wait TIMEOUT" or "--wait=TIMEOUT" in argv: rewritten to
// "--wait=TIMEOUT" (default 10s) so that Args can parse it; TIMEOUT is taken
// from the next word only when it is a duration (an id never is: 12 base36
// characters with no unit). Seconds; nullopt when --wait is not given.
std::optional<double> take_wait(std::vector<std::string>& argv);

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
std::string wait_json(const WaitOutcome& w);
int finish_wait(const WaitOutcome& w, double timeout, bool json);

// Adds "wait": {...} to a JSON object's text.
std::string with_wait(const std::string& object, const WaitOutcome& w);

}  // namespace apikey::cli
