#include "rate.hpp"

#include "number.hpp"

namespace apikey {

std::int64_t unit_seconds(char unit) noexcept {
    switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    }
    return 0;
}

std::int64_t Limit::period_seconds() const noexcept { return unit_seconds(unit); }

std::int64_t Limit::interval_us() const noexcept {
    return count > 0 ? period_seconds() * 1000000 / count : 0;
}

std::string Limit::to_string() const {
    std::string s = std::to_string(count);
    s += "r/";
    s.push_back(unit);
    s.push_back(':');
    s += std::to_string(burst);
    return s;
}

std::optional<Limit> parse_rate(std::string_view text) noexcept {
    // "N" "r/" unit
    if (text.size() < 4 || text[text.size() - 3] != 'r' || text[text.size() - 2] != '/') {
        return std::nullopt;
    }
    Limit limit;
    limit.unit = text.back();
    if (unit_seconds(limit.unit) == 0) {
        return std::nullopt;
    }
    auto count = parse_decimal(text.substr(0, text.size() - 3));
    if (!count || *count <= 0) {
        return std::nullopt;
    }
    limit.count = *count;
    return limit;
}

std::string finish_limit(Limit& limit) {
    if (limit.burst == 0) {
        limit.burst = limit.count;
    }
    if (limit.interval_us() < 1) {
        return "rate is faster than one request per microsecond";
    }
    if (limit.burst < 1 || limit.burst > kMaxBurst) {
        return "burst must be between 1 and " + std::to_string(kMaxBurst);
    }
    if (limit.burst * limit.interval_us() > kMaxWindowUs) {
        return "burst times the request interval exceeds 31 years";
    }
    return {};
}

std::optional<Limit> parse_limit(std::string_view text, std::string& error) {
    std::string_view rate_text = text;
    std::string_view burst_text;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
        rate_text = text.substr(0, colon);
        burst_text = text.substr(colon + 1);
    }
    auto limit = parse_rate(rate_text);
    if (!limit) {
        error = "invalid rate \"" + std::string(rate_text) +
                "\" (expected Nr/s, Nr/m, Nr/h or Nr/d)";
        return std::nullopt;
    }
    if (text.find(':') != std::string_view::npos) {
        auto burst = parse_decimal(burst_text);
        if (!burst || *burst <= 0) {
            error = "invalid burst \"" + std::string(burst_text) + "\"";
            return std::nullopt;
        }
        limit->burst = *burst;
    }
    if (std::string problem = finish_limit(*limit); !problem.empty()) {
        error = "invalid limit \"" + std::string(text) + "\": " + problem;
        return std::nullopt;
    }
    return limit;
}

std::optional<std::vector<Limit>> parse_limit_list(std::string_view text, std::string& error) {
    std::vector<Limit> limits;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') i++;
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ') i++;
        if (i == start) {
            break;
        }
        auto limit = parse_limit(text.substr(start, i - start), error);
        if (!limit) {
            return std::nullopt;
        }
        limits.push_back(*limit);
    }
    return limits;
}

bool parse_own_limits(std::string_view text, OwnLimits& out) noexcept {
    out.count = 0;
    try {
        std::string error;   // written (allocated) only for a malformed item
        std::size_t i = 0;
        while (i < text.size()) {
            while (i < text.size() && text[i] == ' ') i++;
            std::size_t start = i;
            while (i < text.size() && text[i] != ' ') i++;
            if (i == start) break;
            auto limit = parse_limit(text.substr(start, i - start), error);
            if (!limit || out.count == kMaxOwnLimits) {
                out.count = 0;
                return false;
            }
            out.items[out.count++] = *limit;
        }
        return true;
    } catch (...) {
        out.count = 0;
        return false;
    }
}

std::string format_limit_list(const std::vector<Limit>& limits) {
    std::string out;
    for (const auto& limit : limits) {
        if (!out.empty()) out.push_back(' ');
        out += limit.to_string();
    }
    return out;
}

}  // namespace apikey
