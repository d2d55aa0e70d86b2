// libFuzzer target: the admin API's request bodies and query strings, which
// come from whoever may reach the admin location. No crash, no UB, and every
// accepted body yields values the rest of the module accepts too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin.hpp"
#include "cidr.hpp"
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
                       apikey::AdminRoute::kRotate, apikey::AdminRoute::kRevoke,
                       apikey::AdminRoute::kDisable, apikey::AdminRoute::kEnable,
                       apikey::AdminRoute::kOwnerRevoke}) {
        apikey::KeyChanges c;
        if (apikey::parse_key_changes(route, input, c).empty()) {
            require(!c.name || apikey::valid_key_name(*c.name));
            require(!c.scopes || apikey::valid_scope_list(*c.scopes));
            std::string e;
            require(!c.limits || apikey::parse_limit_list(*c.limits, e).has_value());
            require(c.grace >= 0 && (!c.expires_in || *c.expires_in >= 0));
            // the key model: what the script writes must be what the check reads
            require(!c.owner || c.owner->empty() || apikey::valid_owner(*c.owner));
            require(!c.role || c.role->empty() || apikey::valid_group_name(*c.role));
            require(!c.plan || c.plan->empty() || apikey::valid_group_name(*c.plan));
            require(!c.env || *c.env == "live" || *c.env == "test");
            require(c.meta.size() <= apikey::kMaxMeta);
            for (const auto& [name, value] : c.meta) require(apikey::meta_problem(name, value).empty());
            if (c.allow_ip && !c.allow_ip->empty()) {
                std::string again;
                auto canonical = apikey::canonical_cidr_list(*c.allow_ip, &again);
                require(canonical && *canonical == *c.allow_ip);   // canonical already
            }
        }
    }
    for (auto route : {apikey::AdminRoute::kRoleCreate, apikey::AdminRoute::kRoleUpdate,
                       apikey::AdminRoute::kPlanCreate, apikey::AdminRoute::kPlanUpdate}) {
        apikey::GroupChanges g;
        std::string name;
        if (apikey::parse_group_changes(route, input, name, g).empty()) {
            bool create = route == apikey::AdminRoute::kRoleCreate ||
                          route == apikey::AdminRoute::kPlanCreate;
            require(!create || apikey::valid_group_name(name));
            std::string e;
            bool role = route == apikey::AdminRoute::kRoleCreate ||
                        route == apikey::AdminRoute::kRoleUpdate;
            require(!g.value || (role ? apikey::valid_scope_list(*g.value)
                                      : apikey::parse_limit_list(*g.value, e).has_value()));
            require(!g.description || apikey::description_problem(*g.description).empty());
        }
    }

    apikey::ListQuery q;
    (void) apikey::parse_list_query(input, q);
    for (const char* method : {"GET", "POST", "PATCH", "DELETE"}) {
        apikey::AdminTarget t = apikey::admin_route(method, input);
        // an id, name or owner taken from the path is one the script may use as a key
        require(t.route != apikey::AdminRoute::kOwnerRevoke || apikey::valid_owner(t.id));
        require(apikey::admin_group_kind(t.route).empty() || t.id.empty() ||
                apikey::valid_group_name(t.id));
    }

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
