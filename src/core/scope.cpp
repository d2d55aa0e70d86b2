#include "scope.hpp"

#include <algorithm>

namespace apikey {

namespace {

bool is_scope_char(unsigned char c) noexcept {
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

// Calls fn(scope) for each scope of a space-separated list until fn returns false.
template <typename Fn>
bool for_each_scope(std::string_view list, Fn&& fn) {
    std::size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && list[i] == ' ') i++;
        std::size_t start = i;
        while (i < list.size() && list[i] != ' ') i++;
        if (i > start && !fn(list.substr(start, i - start))) {
            return false;
        }
    }
    return true;
}

bool contains(std::string_view list, std::string_view scope) noexcept {
    return !for_each_scope(list, [&](std::string_view s) { return s != scope; });
}

}  // namespace

bool valid_scope(std::string_view scope) noexcept {
    if (scope.empty() || scope.size() > kMaxScopeLength || scope == kUnlistedMethodScope) {
        return false;
    }
    return std::all_of(scope.begin(), scope.end(),
                       [](char c) { return is_scope_char(static_cast<unsigned char>(c)); });
}

std::vector<std::string_view> split_scopes(std::string_view list) {
    std::vector<std::string_view> out;
    for_each_scope(list, [&](std::string_view s) {
        out.push_back(s);
        return true;
    });
    return out;
}

bool valid_scope_list(std::string_view list) noexcept {
    return for_each_scope(list, [](std::string_view s) { return valid_scope(s); });
}

ScopeDecision check_scopes(std::string_view held, std::string_view required,
                           std::string_view super) noexcept {
    ScopeDecision decision;

    bool is_super = !for_each_scope(super, [&](std::string_view s) {
        return !contains(held, s);
    });
    if (is_super) {
        return decision;
    }

    for_each_scope(required, [&](std::string_view s) {
        if (contains(held, s)) {
            return true;
        }
        decision.allowed = false;
        decision.missing = s;
        return false;
    });
    return decision;
}

std::string join_scopes(const std::vector<std::string>& scopes) {
    std::string out;
    std::vector<std::string_view> seen;
    for (const auto& s : scopes) {
        if (std::find(seen.begin(), seen.end(), s) != seen.end()) {
            continue;
        }
        seen.push_back(s);
        if (!out.empty()) out.push_back(' ');
        out.append(s);
    }
    return out;
}

}  // namespace apikey
