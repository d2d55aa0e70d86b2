#include "output.hpp"

#include <cstdio>
#include <iostream>

#include "duration.hpp"
#include "json.hpp"
#include "text.hpp"

namespace apikey::cli {

namespace {

std::string when(std::int64_t t, std::int64_t now, const char* none) {
    return t > 0 ? format_relative(t, now) : none;
}

// Display width of UTF-8 text, counting each code point as one column.
std::size_t columns(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string shorten(const std::string& s, std::size_t width) {
    if (columns(s) <= width) return s;
    std::string out;
    std::size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) != 0x80 && ++n > width - 1) break;
        out.push_back(static_cast<char>(c));
    }
    return out + "\xe2\x80\xa6";   // …
}

}  // namespace

void print_table(const std::vector<KeyRecord>& records, std::int64_t now) {
    // the key model's columns come last, so scripts that read the first
    // eight keep working
    const std::vector<std::string> head = {"ID",      "NAME",      "HINT",    "SCOPES",
                                           "CREATED", "LAST USED", "EXPIRES", "STATUS",
                                           "OWNER",   "ROLE",      "PLAN",    "ENV"};
    std::vector<std::vector<std::string>> rows;
    // a name is whatever was stored: escaped (text.hpp) before it is
    // measured, so a control character can neither forge a row nor skew a column
    for (const auto& r : records) {
        rows.push_back({terminal_safe(r.id), shorten(terminal_safe(r.name), 32),
                        "..." + terminal_safe(r.hint),
                        r.scopes.empty() ? "-" : shorten(terminal_safe(r.scopes), 40),
                        when(r.created, now, "-"), when(r.last_used, now, "never"),
                        when(r.expires, now, "never"),
                        std::string(r.effective_status(now)) + (r.in_grace(now) ? " (rotating)" : ""),
                        r.owner.empty() ? "-" : shorten(terminal_safe(r.owner), 24),
                        r.role.empty() ? "-" : terminal_safe(r.role),
                        r.plan.empty() ? "-" : terminal_safe(r.plan),
                        std::string(r.effective_env())});
    }
    std::vector<std::size_t> width(head.size());
    for (std::size_t c = 0; c < head.size(); c++) {
        width[c] = columns(head[c]);
        for (const auto& row : rows) width[c] = std::max(width[c], columns(row[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (std::size_t c = 0; c < cells.size(); c++) {
            out += cells[c];
            if (c + 1 < cells.size()) out += std::string(width[c] - columns(cells[c]) + 2, ' ');
        }
        std::cout << out << "\n";
    };
    line(head);
    for (const auto& row : rows) line(row);
    if (rows.empty()) std::cout << "(no keys)\n";
}

void print_record(const KeyRecord& r, std::int64_t now) {
    auto row = [](const char* label, const std::string& value) {
        std::printf("%-11s %s\n", label, terminal_safe(value).c_str());
    };
    auto stamp = [&](std::int64_t t, const char* none) {
        return t > 0 ? format_utc(t) + " (" + format_relative(t, now) + ")" : std::string(none);
    };
    row("ID", r.id);
    row("Name", r.name);
    row("Status", std::string(r.effective_status(now)));
    row("Env", std::string(r.effective_env()));
    // the token's prefix: the record's env for a key minted with one; a key
    // minted before environments has the old ak_<id>_ shape, which this
    // cannot tell apart, so show the shape new tokens have
    std::string shape = "ak_" + std::string(r.effective_env()) + "_" + r.id + "_...";
    if (r.imported) {
        row("Token", "..." + r.hint + " (imported)");
    } else {
        row("Token", shape + r.hint + (r.in_grace(now) ? " (new)" : ""));
    }
    if (r.in_grace(now)) {
        row("", shape + r.prev_hint + " (previous, works until " +
                    format_utc(r.prev_until) + ", " + format_relative(r.prev_until, now) + ")");
    }
    row("Owner", r.owner.empty() ? "(none)" : r.owner);
    row("Role", r.role.empty() ? "(none)" : r.role + " (scopes: " +
                                             (r.role_scopes.empty() ? "none" : r.role_scopes) + ")");
    row("Plan", r.plan.empty() ? "(none)" : r.plan + " (limits: " +
                                             (r.plan_limits.empty() ? "none" : r.plan_limits) + ")");
    row("Scopes", r.scopes.empty() ? "(none)" : r.scopes);
    row("Limits", !r.limits.empty() ? r.limits
                  : !r.plan_limits.empty() ? "(the plan's: " + r.plan_limits + ")"
                  : "(configured in nginx)");
    row("Quota", !r.quota.empty() ? r.quota
                 : !r.plan_quota.empty() ? "(the plan's: " + r.plan_quota + ")"
                 : "(none)");
    if (r.credits) {
        row("Credits", std::to_string(*r.credits) +
                           (r.credits_granted ? " of " + std::to_string(*r.credits_granted) +
                                                    " granted" : std::string()));
    } else {
        row("Credits", "(unlimited)");
    }
    if (!r.refill.empty()) row("Refill", r.refill + " (UTC)");
    row("Meta", r.meta.empty() ? "(none)" : r.meta);
    row("Allow IP", r.allow_ip.empty() ? "(any address)" : r.allow_ip);
    row("Created", stamp(r.created, "-"));
    row("Last used", stamp(r.last_used, "never"));
    row("Expires", stamp(r.expires, "never"));
    if (r.revoked_at > 0) row("Revoked", stamp(r.revoked_at, "-"));
    if (r.leaked_at > 0) {
        row("Leaked", stamp(r.leaked_at, "-") + " (reported by GitHub secret scanning)");
        row("Leak URL", r.leak_url.empty() ? "(none given)" : r.leak_url);
    }
}

void print_token(const KeyRecord& r, const std::string& token, std::int64_t now,
                 const char* verb) {
    std::printf("%s key %s (%s)\n\n    %s\n\n", verb, r.id.c_str(), terminal_safe(r.name).c_str(),
                token.c_str());
    std::printf("Scopes:  %s\n", r.scopes.empty() ? "(none)" : terminal_safe(r.scopes).c_str());
    std::printf("Expires: %s\n",
                r.expires > 0 ? (format_utc(r.expires) + " (" + format_relative(r.expires, now) +
                                 ")").c_str()
                              : "never");
}

void print_json_array(const std::vector<KeyRecord>& records, std::int64_t now) {
    std::cout << "[";
    for (std::size_t i = 0; i < records.size(); i++) {
        if (i) std::cout << ",";
        std::cout << record_json(records[i], now);
    }
    std::cout << "]\n";
}

void print_audit(const std::vector<AuditEvent>& events, std::int64_t now) {
    std::printf("%-20s  %-14s  %-12s  %-7s  %-12s  %s\n", "TIME", "WHEN", "KEY", "ACTION", "USER",
                "REASON");
    for (const auto& e : events) {
        // one event, one line: a reason with CR/LF or escape sequences
        // could otherwise print rows that look like other events
        std::printf("%-20s  %-14s  %-12s  %-7s  %-12s  %s\n", format_utc(e.time).c_str(),
                    format_relative(e.time, now).c_str(), terminal_safe(e.key_id).c_str(),
                    terminal_safe(e.action).c_str(), terminal_safe(e.user).c_str(),
                    terminal_safe(e.reason).c_str());
    }
    if (events.empty()) std::cout << "(no events)\n";
}

void print_audit_json(const std::vector<AuditEvent>& events) {
    std::cout << "[";
    for (std::size_t i = 0; i < events.size(); i++) {
        std::cout << (i ? "," : "") << audit_json(events[i]);
    }
    std::cout << "]\n";
}

void warn_store_token() {
    std::fprintf(stderr,
                 "apikeyctl: this is the only time the token is shown; store it in a secret "
                 "manager now. Only its SHA-256 digest is kept.\n");
}

}  // namespace apikey::cli
