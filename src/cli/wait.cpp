#include "wait.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>

#include "args.hpp"
#include "json.hpp"
#include "text.hpp"

namespace apikey::cli {

namespace {

std::optional<double> wait_seconds(const std::string& text) {
    auto ms = parse_wait_timeout(text, 3600 * 1000);
    if (!ms) return std::nullopt;
    return static_cast<double>(*ms) / 1000;
}

double monotonic() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// {"instance": [pid, ...]} in order, for the human and JSON forms alike
std::map<std::string, std::vector<std::string>> by_instance(const std::vector<std::string>& ws) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& w : ws) {
        auto name = split_worker(w);
        out[name.instance].push_back(name.pid);
    }
    return out;
}

// Members of <prefix>workers are whatever someone wrote there: escaped for
// the terminal like every other stored text (README, "Names and reasons").
std::string workers_text(const std::vector<std::string>& ws) {
    std::string out;
    for (const auto& [instance, pids] : by_instance(ws)) {
        out += "  instance " + terminal_safe(instance) + ": worker" +
               (pids.size() == 1 ? " " : "s ");
        for (std::size_t i = 0; i < pids.size(); i++) {
            out += (i ? ", " : "") + terminal_safe(pids[i]);
        }
        out += "\n";
    }
    return out;
}

}  // namespace

void normalize_wait(std::vector<std::string>& argv) {
    for (std::size_t i = 0; i < argv.size(); i++) {
        if (argv[i] != "--wait") continue;
        if (i + 1 < argv.size() && wait_seconds(argv[i + 1])) {
            argv[i] = "--wait=" + argv[i + 1];
            argv.erase(argv.begin() + static_cast<long>(i) + 1);
        } else {
            argv[i] = "--wait=10s";
        }
    }
}

std::optional<double> wait_option(const Args& args) {
    auto value = args.value("--wait");
    if (!value) return std::nullopt;
    auto seconds = wait_seconds(*value);
    if (!seconds) {
        throw UsageError("invalid --wait timeout \"" + *value +
                         "\" (e.g. 10s, 500ms, 2m; at most 1h)");
    }
    return seconds;
}

WaitOutcome wait_for_workers(Store& store, const std::string& id, double timeout) {
    WaitOutcome w;
    std::string event = new_event_id();
    if (event.empty()) throw Failure("the random number generator failed");

    // the workers to wait for: those announced when the message goes out (a
    // worker that starts later drops its whole cache when it subscribes)
    std::vector<std::string> expected = store.live_workers();
    std::sort(expected.begin(), expected.end());
    w.expected = expected.size();

    double start = monotonic();
    store.invalidate_event(id, event);

    for (;;) {
        auto acked = store.acks(event);
        auto live = store.live_workers();
        w.state = wait_state(expected, std::set<std::string>(live.begin(), live.end()),
                             std::set<std::string>(acked.begin(), acked.end()));
        w.elapsed = monotonic() - start;
        if (w.state.done() || w.elapsed >= timeout) return w;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, nullptr);
    }
}

std::string with_wait(const std::string& object, const WaitOutcome& w) {
    return apikey::with_wait(object, w.state, std::llround(w.elapsed * 1000));
}

int finish_wait(const WaitOutcome& w, double timeout, bool json) {
    std::size_t instances = by_instance(w.state.confirmed).size();
    if (json && w.state.done()) return 0;
    if (w.state.done()) {
        if (w.expected == 0) {
            std::cout << "No nginx worker with apikey_cache has announced itself: nothing to "
                         "wait for.\n";
        } else {
            std::cout << "Confirmed by " << w.state.confirmed.size()
                      << (w.state.confirmed.size() == 1 ? " worker" : " workers") << " of "
                      << instances << (instances == 1 ? " instance" : " instances") << " in "
                      << std::llround(w.elapsed * 1000) << " ms:\n"
                      << workers_text(w.state.confirmed);
        }
        if (!w.state.gone.empty()) {
            std::cout << "Stopped meanwhile (nothing to wait for):\n" << workers_text(w.state.gone);
        }
        return 0;
    }
    char t[32];
    std::snprintf(t, sizeof(t), "%g", timeout);
    std::cerr << "apikeyctl: not confirmed within " << t << "s by "
              << w.state.pending.size() << " of " << w.expected
              << (w.expected == 1 ? " worker" : " workers") << ":\n"
              << workers_text(w.state.pending);
    if (!w.state.confirmed.empty() && !json) {
        std::cout << "Confirmed by " << w.state.confirmed.size()
                  << (w.state.confirmed.size() == 1 ? " worker" : " workers") << ":\n"
                  << workers_text(w.state.confirmed);
    }
    return kExitUnconfirmed;
}

}  // namespace apikey::cli
