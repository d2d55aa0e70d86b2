#include "rate_headers.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "bucket.hpp"
#include "quota.hpp"

namespace apikey {

RateHeaders rate_headers(const BucketState* buckets, std::size_t count) noexcept {
    RateHeaders h;
    if (count == 0) {
        return h;
    }
    h.present = true;

    const BucketState* shown = nullptr;
    std::int64_t longest_retry = 0;
    for (std::size_t i = 0; i < count; i++) {
        const BucketState& b = buckets[i];
        if (b.retry_us > longest_retry) {
            longest_retry = b.retry_us;
            shown = &b;  // refused: report the bucket that refuses longest
        }
    }
    if (shown == nullptr) {
        shown = &buckets[0];
        for (std::size_t i = 1; i < count; i++) {
            if (buckets[i].remaining < shown->remaining) {
                shown = &buckets[i];
            }
        }
    }

    h.limit = shown->burst;
    h.remaining = shown->remaining;
    h.reset = ceil_seconds(shown->reset_us);
    if (longest_retry > 0) {
        h.retry_after = retry_after_seconds(longest_retry);
    }

    return h;
}

std::size_t format_policy(const BucketState* buckets, std::size_t count, char* buf,
                          std::size_t cap) noexcept {
    std::size_t len = 0;
    for (std::size_t i = 0; i < count; i++) {
        int n = std::snprintf(buf + len, cap - len, "%s%lld;w=%lld", i ? ", " : "",
                              static_cast<long long>(buckets[i].burst),
                              static_cast<long long>(
                                  ceil_seconds(buckets[i].burst * buckets[i].interval_us)));
        if (n < 0 || static_cast<std::size_t>(n) >= cap - len) {
            return 0;
        }
        len += static_cast<std::size_t>(n);
    }
    return len;
}

PolicyName policy_name(std::string_view set, const Limit& limit, bool alone) noexcept {
    PolicyName n;
    std::size_t len = std::min(set.size(), n.text.size());
    std::memcpy(n.text.data(), set.data(), len);
    if (!alone) {
        int w = std::snprintf(n.text.data() + len, n.text.size() - len, "/%lldr/%c:%lld",
                              static_cast<long long>(limit.count), limit.unit,
                              static_cast<long long>(limit.burst));
        if (w > 0) {
            len += std::min(static_cast<std::size_t>(w), n.text.size() - len - 1);
        }
    }
    n.len = len;
    return n;
}

bool name_policies(const PolicySet* sets, std::size_t nsets, const Limit* own, std::size_t nown,
                   std::size_t count, std::array<PolicyName, kMaxBuckets>& out) noexcept {
    std::size_t k = 0;
    for (std::size_t s = 0; s < nsets; s++) {
        const Limit* lines = sets[s].lines;
        std::size_t n = sets[s].count;
        if (sets[s].overridable && nown > 0) {
            lines = own;
            n = nown;
        }
        for (std::size_t i = 0; i < n; i++) {
            if (k == count || k == out.size()) {
                return false;
            }
            out[k++] = policy_name(sets[s].name, lines[i], n == 1);
        }
    }
    return k == count;
}

std::int64_t next_token_seconds(const BucketState& b) noexcept {
    if (b.retry_us > 0) {
        return retry_after_seconds(b.retry_us);
    }
    // tokens(now) = B - reset/I, of which `remaining` whole: the next whole
    // one arrives when reset has shrunk to (B - remaining - 1) * I
    std::int64_t owed = b.burst - b.remaining - 1;
    std::int64_t us = b.reset_us - (owed > 0 ? owed * b.interval_us : 0);
    return retry_after_seconds(us);
}

std::int64_t policy_seconds(const RatePolicy& p) noexcept {
    return p.window_s > 0 ? std::max<std::int64_t>(1, p.reset_s) : next_token_seconds(p.state);
}

bool quota_policy(const QuotaState& q, std::int64_t now_s, PolicyName& name,
                  RatePolicy& out) noexcept {
    std::size_t slash = q.name.rfind('/');
    if (slash == std::string_view::npos) return false;
    auto period = parse_quota_period(q.name.substr(slash + 1));
    if (!period) return false;
    int n = std::snprintf(name.text.data(), name.text.size(), "%.*s/%lld/%.*s",
                          static_cast<int>(slash), q.name.data(),
                          static_cast<long long>(q.limit),
                          static_cast<int>(q.name.size() - slash - 1), q.name.data() + slash + 1);
    if (n < 0 || static_cast<std::size_t>(n) >= name.text.size()) return false;
    name.len = static_cast<std::size_t>(n);
    PeriodSpan span = period_span(*period, now_s);
    out = RatePolicy{};
    out.name = name.view();
    out.state.burst = q.limit;
    out.state.remaining = q.remaining;
    out.state.retry_us = q.exceeded ? q.reset_s * 1000000 : 0;
    out.window_s = span.end - span.start;
    out.reset_s = q.reset_s;
    return true;
}

std::size_t closest_policy(const RatePolicy* p, std::size_t count) noexcept {
    std::size_t best = 0;
    for (std::size_t i = 1; i < count; i++) {
        const BucketState& a = p[i].state;
        const BucketState& b = p[best].state;
        bool closer;
        if (a.retry_us > 0 || b.retry_us > 0) {
            closer = a.retry_us > b.retry_us;
        } else if (a.remaining != b.remaining) {
            closer = a.remaining < b.remaining;
        } else {
            closer = policy_seconds(p[i]) > policy_seconds(p[best]);
        }
        if (closer) {
            best = i;
        }
    }
    return best;
}

std::size_t format_sf_string(std::string_view s, char* buf, std::size_t cap) noexcept {
    std::size_t len = 0;
    auto put = [&](char c) {
        if (len < cap) buf[len] = c;
        len++;
    };
    put('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            put('\\');
            put(static_cast<char>(c));
        } else if (c < 0x20 || c > 0x7e) {
            put('?');
        } else {
            put(static_cast<char>(c));
        }
    }
    put('"');
    return len <= cap ? len : 0;
}

namespace {

// One list member: the name, then "parameters"; ", " between members.
std::size_t format_members(const RatePolicy* p, std::size_t from, std::size_t to, bool limit,
                           char* buf, std::size_t cap) noexcept {
    std::size_t len = 0;
    for (std::size_t i = from; i < to; i++) {
        if (i > from) {
            if (cap - len < 2) return 0;
            buf[len++] = ',';
            buf[len++] = ' ';
        }
        std::size_t n = format_sf_string(p[i].name, buf + len, cap - len);
        if (n == 0) return 0;
        len += n;
        const BucketState& b = p[i].state;
        std::int64_t window = p[i].window_s > 0
            ? p[i].window_s
            : std::max<std::int64_t>(1, ceil_seconds(b.burst * b.interval_us));
        int w = limit
            ? std::snprintf(buf + len, cap - len, ";r=%lld;t=%lld",
                            static_cast<long long>(b.remaining),
                            static_cast<long long>(policy_seconds(p[i])))
            : std::snprintf(buf + len, cap - len, ";q=%lld;w=%lld",
                            static_cast<long long>(b.burst), static_cast<long long>(window));
        if (w < 0 || static_cast<std::size_t>(w) >= cap - len) return 0;
        len += static_cast<std::size_t>(w);
    }
    return len;
}

}  // namespace

std::size_t format_draft_policy(const RatePolicy* policies, std::size_t count, char* buf,
                                std::size_t cap) noexcept {
    return count ? format_members(policies, 0, count, false, buf, cap) : 0;
}

std::size_t format_draft_limit(const RatePolicy* policies, std::size_t count, char* buf,
                               std::size_t cap) noexcept {
    if (count == 0) return 0;
    std::size_t i = closest_policy(policies, count);
    return format_members(policies, i, i + 1, true, buf, cap);
}

}  // namespace apikey
