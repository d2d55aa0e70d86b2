#include "duration.hpp"

#include <ctime>

namespace apikey {

namespace {

std::int64_t unit_of(char c) noexcept {
    switch (c) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    case 'w': return 7 * 86400;
    case 'y': return 365 * 86400;
    }
    return 0;
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) noexcept {
    constexpr std::int64_t kMax = 1000LL * 365 * 86400;  // a thousand years is plenty
    std::int64_t total = 0;
    std::size_t i = 0;
    if (text.empty()) {
        return std::nullopt;
    }
    while (i < text.size()) {
        std::int64_t n = 0;
        std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i] - '0');
            if (n > kMax) return std::nullopt;
            i++;
        }
        if (i == start) {
            return std::nullopt;
        }
        std::int64_t unit = 1;
        if (i < text.size()) {
            unit = unit_of(text[i]);
            if (unit == 0) return std::nullopt;
            i++;
        } else if (start != 0) {
            return std::nullopt;  // "1h30": the trailing number needs a unit
        }
        total += n * unit;
        if (total > kMax) return std::nullopt;
    }
    if (total <= 0) {
        return std::nullopt;
    }
    return total;
}

std::string format_utc(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string format_relative(std::int64_t when, std::int64_t now) {
    std::int64_t delta = now - when;
    bool future = delta < 0;
    std::int64_t d = future ? -delta : delta;
    if (d < 60) {
        return future ? "in a moment" : "just now";
    }
    struct Step { std::int64_t seconds; const char* name; };
    static constexpr Step steps[] = {
        {365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
        {86400, "day"},        {3600, "hour"},        {60, "minute"},
    };
    for (const auto& step : steps) {
        if (d >= step.seconds) {
            std::int64_t n = d / step.seconds;
            std::string text = std::to_string(n) + " " + step.name + (n == 1 ? "" : "s");
            return future ? "in " + text : text + " ago";
        }
    }
    return "just now";
}

}  // namespace apikey
