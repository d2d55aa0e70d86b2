// libFuzzer target: leaked-key reports and the public-keys document. A report
// is parsed only once its signature verified, but GitHub's side is not ours
// to trust either. No crash, no UB; an accepted report always has a token per
// match, and its feedback body is JSON of one object per match.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "json_parse.hpp"
#include "leak_report.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    std::vector<apikey::LeakMatch> matches;
    if (apikey::parse_leak_report(input, matches).empty()) {
        require(matches.size() <= apikey::kMaxLeakMatches);
        std::vector<apikey::LeakVerdict> verdicts;
        for (const auto& m : matches) {
            verdicts.push_back({std::string(64, 'a'), m.type, m.token.size() % 2 == 0});
        }
        std::string error;
        auto feedback = apikey::parse_json(apikey::leak_feedback(verdicts), error);
        require(feedback && feedback->type == apikey::JsonValue::Type::kArray
                && feedback->array.size() == matches.size());
    } else {
        require(matches.empty());
    }

    std::vector<apikey::LeakPublicKey> keys;
    if (apikey::parse_leak_keys(input, keys).empty()) {
        require(!keys.empty());
        for (const auto& k : keys) require(!k.identifier.empty() && !k.pem.empty());
    } else {
        require(keys.empty());
    }
    return 0;
}
