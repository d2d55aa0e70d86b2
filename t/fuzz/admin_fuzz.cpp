// libFuzzer target: the admin API's request bodies and query strings, which
// come from whoever may reach the admin location. No crash, no UB, and every
// accepted body yields values the rest of the module accepts too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin.hpp"
#include "json_parse.hpp"
#include "rate.hpp"
#include "record.hpp"
#include "scope.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    std::string error;
    (void) apikey::parse_json(input, error);

    for (auto route : {apikey::AdminRoute::kCreate, apikey::AdminRoute::kUpdate,
                       apikey::AdminRoute::kRotate, apikey::AdminRoute::kRevoke}) {
        apikey::KeyChanges c;
        if (apikey::parse_key_changes(route, input, c).empty()) {
            require(!c.name || apikey::valid_key_name(*c.name));
            require(!c.scopes || apikey::valid_scope_list(*c.scopes));
            std::string e;
            require(!c.limits || apikey::parse_limit_list(*c.limits, e).has_value());
            require(c.grace >= 0 && (!c.expires_in || *c.expires_in >= 0));
        }
    }

    apikey::ListQuery q;
    (void) apikey::parse_list_query(input, q);
    (void) apikey::admin_route("GET", input);

    // the cross-site guard reads headers a hostile browser page or client
    // chooses: any split of the input into them must leave a decision
    apikey::AdminRequestHeaders h;
    std::string_view rest = input;
    auto next = [&rest]() {
        std::size_t nl = rest.find('\n');
        std::string_view part = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        return part;
    };
    h.method = next();
    h.content_type = next();
    h.origin = next();
    h.origins = h.origin.empty() ? 0 : 1;
    h.sec_fetch_site = next();
    h.scheme = "http";
    h.host = next();
    apikey::AdminGuard g = apikey::admin_guard(h);
    require(g.status == 0 || g.status == 403 || g.status == 415);
    require((g.status == 0) == g.message.empty());
    return 0;
}
