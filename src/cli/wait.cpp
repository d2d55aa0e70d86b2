#include "wait.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>

#include "args.hpp"
#include "json.hpp"

namespace apikey::cli {

namespace {

std::optional<double> wait_seconds(const std::string& text) {
    // 500ms, 2s, 1m, or bare seconds (fractions allowed: 0.5)
    double unit = 1;
    std::string number = text;
    if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
        unit = 0.001;
        number = text.substr(0, text.size() - 2);
    } else if (!text.empty() && text.back() == 's') {
        number = text.substr(0, text.size() - 1);
    } else if (!text.empty() && text.back() == 'm') {
        unit = 60;
        number = text.substr(0, text.size() - 1);
    }
    if (number.empty() || number.size() > 12) return std::nullopt;
    std::size_t dots = 0;
    for (char c : number) {
        if (c == '.') dots++;
        else if (c < '0' || c > '9') return std::nullopt;
    }
    if (dots > 1 || number == ".") return std::nullopt;
    double v = std::stod(number) * unit;
    if (!(v > 0) || v > 3600) return std::nullopt;
    return v;
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

std::string workers_json(const std::vector<std::string>& ws) {
    std::string out = "[";
    for (const auto& w : ws) {
        auto name = split_worker(w);
        if (out.size() > 1) out += ",";
        JsonObject o;
        o.field("instance", name.instance).field("worker", name.pid);
        out += o.str();
    }
    return out + "]";
}

std::string workers_text(const std::vector<std::string>& ws) {
    std::string out;
    for (const auto& [instance, pids] : by_instance(ws)) {
        out += "  instance " + instance + ": worker" + (pids.size() == 1 ? " " : "s ");
        for (std::size_t i = 0; i < pids.size(); i++) out += (i ? ", " : "") + pids[i];
        out += "\n";
    }
    return out;
}

}  // namespace

std::optional<double> take_wait(std::vector<std::string>& argv) {
    std::optional<double> out;
    for (std::size_t i = 0; i < argv.size(); i++) {
        std::string value;
        if (argv[i] == "--wait") {
            value = "10s";
            if (i + 1 < argv.size() && wait_seconds(argv[i + 1])) {
                value = argv[i + 1];
                argv.erase(argv.begin() + static_cast<long>(i) + 1);
            }
        } else if (argv[i].rfind("--wait=", 0) == 0) {
            value = argv[i].substr(7);
        } else {
            continue;
        }
        auto seconds = wait_seconds(value);
        if (!seconds) {
            throw UsageError("invalid --wait timeout \"" + value +
                             "\" (e.g. 10s, 500ms, 2m; at most 1h)");
        }
        out = *seconds;
        argv.erase(argv.begin() + static_cast<long>(i));
        i--;
    }
    return out;
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

std::string wait_json(const WaitOutcome& w) {
    JsonObject o;
    o.field("confirmed_all", w.state.done())
        .raw_field("confirmed", workers_json(w.state.confirmed))
        .raw_field("unconfirmed", workers_json(w.state.pending))
        .raw_field("gone", workers_json(w.state.gone))
        .field("elapsed_ms", static_cast<std::int64_t>(std::llround(w.elapsed * 1000)));
    return o.str();
}

std::string with_wait(const std::string& object, const WaitOutcome& w) {
    std::string out = object;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (out.empty() || out.back() != '}') return object;
    out.pop_back();
    out += (out.size() > 1 ? ",\"wait\":" : "\"wait\":") + wait_json(w) + "}";
    return out;
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
