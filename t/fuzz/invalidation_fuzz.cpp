// libFuzzer target: what a worker reads from <prefix>invalidate (anyone who
// may PUBLISH there writes it) and what a waiter reads from <prefix>workers.
//
// Invariants checked beyond "no crash, no UB":
//   - a parsed message's id and event point into the input, the event is a
//     valid event id or empty, and the event form formats back to the input;
//   - a member splits into an instance and a pid that join back to it;
//   - a wait timeout parses only to 1..max ms.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "invalidation.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data()
                            && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    if (auto m = apikey::parse_invalidation(input)) {
        require(!m->id.empty() && inside(m->id, input) && inside(m->event, input));
        require(m->published_us >= 0);
        if (m->event.empty()) {
            require(m->id == input);
        } else {
            require(apikey::valid_event_id(m->event));
            // the same text again, but for the time's leading zeros
            std::string_view time = input.substr(input.rfind(' ') + 1);
            require(apikey::invalidation_message(m->id, m->event, m->published_us) == input
                    || time[0] == '0');
        }
    }

    apikey::WorkerName w = apikey::split_worker(input);
    require(input.find(':') == std::string_view::npos ? w.instance == input && w.pid.empty()
                                                       : w.instance + ":" + w.pid == input);

    if (auto ms = apikey::parse_wait_timeout(input, 60000)) {
        require(*ms >= 1 && *ms <= 60000);
    }
    return 0;
}
