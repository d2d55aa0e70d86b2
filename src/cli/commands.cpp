#include "commands.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

#include "args.hpp"
#include "cidr.hpp"
#include "admin_script.hpp"
#include "digest.hpp"
#include "json.hpp"
#include "wait.hpp"
#include "duration.hpp"
#include "mint.hpp"
#include "output.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "text.hpp"
#include "number.hpp"
#include "quota.hpp"
#include "token.hpp"
#include "usage.hpp"

namespace apikey::cli {

namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Who ran the command: sudo's caller when run through sudo, else the OS user.
std::string current_user() {
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) return sudo;
    if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
    return std::to_string(getuid());
}

std::string checked_reason(const Args& args) {
    std::string reason = args.value("--reason").value_or("");
    std::string problem = reason_problem(reason);
    if (!problem.empty()) {
        throw UsageError("invalid --reason: " + problem +
                         "; C1 controls, bidirectional controls and invalid UTF-8 are refused");
    }
    return reason;
}

// The audit event of a change. Store::change writes it in the same step as
// the change, with the invalidation message for nginx caches.
AuditEvent event_for(const std::string& key_id, const char* action, const Args& args) {
    AuditEvent e;
    e.time = now();
    e.key_id = key_id;
    e.action = action;
    e.user = current_user();
    e.reason = checked_reason(args);
    e.via = "cli";
    return e;
}

// The record after a change; a key deleted before the change (or never
// created) ends the command with "no key with ID ...", exit status 1.
KeyRecord changed(const AdminReply& reply, const std::string& id) {
    switch (reply.status) {
    case AdminReply::Status::kOk: return reply.record;
    case AdminReply::Status::kNotFound: throw Failure("no key with ID " + id);
    case AdminReply::Status::kExists: throw Failure("key " + id + " exists already");
    case AdminReply::Status::kConflict: throw Failure("key " + id + ": " + reply.message);
    case AdminReply::Status::kError: break;
    }
    throw Failure("key " + id + ": " + reply.message);
}

std::vector<std::string> fields_of(const KeyRecord& r) {
    std::vector<std::string> out;
    for (auto& [field, value] : record_fields(r)) {
        out.push_back(field);
        out.push_back(value);
    }
    return out;
}

std::int64_t checked_duration(const std::string& option, const std::string& text) {
    auto seconds = parse_duration(text);
    if (!seconds) {
        throw UsageError("invalid " + option + " \"" + text + "\" (examples: 30d, 12h, 1h30m, 2w)");
    }
    return *seconds;
}

std::string digest_of(const std::string& token, const StoreOptions& options) {
    DigestHex hex;
    if (!token_digest(token, options.hash_secret, hex)) {
        throw Failure("cannot hash the token (OpenSSL)");
    }
    return std::string(hex.data(), hex.size());
}

std::string checked_name(const std::string& name) {
    if (!valid_key_name(name)) {
        throw UsageError("invalid --name: 1 to 128 characters, no control characters (" +
                         name_problem(name) + ")");
    }
    return name;
}

std::string checked_scopes(const std::vector<std::string>& scopes) {
    for (const auto& s : scopes) {
        if (!valid_scope(s)) {
            throw UsageError("invalid scope \"" + s +
                             "\": printable ASCII without spaces, quotes or backslashes, "
                             "at most 128 characters");
        }
    }
    return join_scopes(scopes);
}

// "90d", "never" -> a lifetime in seconds, 0 for never (KeyChanges::expires_in)
std::int64_t checked_lifetime(const std::string& text) {
    if (text == "never") return 0;
    auto seconds = parse_duration(text);
    if (!seconds) {
        throw UsageError("invalid --expires-in \"" + text +
                         "\" (examples: 90d, 12h, 1h30m, 2w, 1y, never)");
    }
    return *seconds;
}

std::string checked_limits(const std::vector<std::string>& items) {
    std::vector<Limit> limits;
    for (const auto& item : items) {
        std::string error;
        auto limit = parse_limit(item, error);
        if (!limit) throw UsageError("invalid --limit: " + error);
        limits.push_back(*limit);
    }
    if (limits.size() > 8) throw UsageError("at most 8 --limit options per key");
    return format_limit_list(limits);
}

// --quota N/day|week|month (repeatable) or --no-quota ("": removes it)
std::optional<std::string> checked_quota_option(const Args& args) {
    auto items = args.values("--quota");
    if (!items.empty() && args.flag("--no-quota")) {
        throw UsageError("--quota and --no-quota exclude each other");
    }
    if (args.flag("--no-quota")) return std::string();
    if (items.empty()) return std::nullopt;
    std::string error;
    auto quota = checked_quota_items(items, error);
    if (!quota) throw UsageError("invalid --quota: " + error);
    return quota;
}

// A whole number from `min` to 10^12 (kMaxCredits), for --credits, --set, --add.
std::int64_t checked_credits(const std::string& option, const std::string& text, std::int64_t min) {
    bool negative = !text.empty() && text[0] == '-' && min < 0;
    auto n = parse_decimal(negative ? std::string_view(text).substr(1) : std::string_view(text));
    if (!n || *n > kMaxCredits) {
        throw UsageError("invalid " + option + " \"" + text + "\": a whole number from " +
                         std::to_string(min) + " to " + std::to_string(kMaxCredits));
    }
    return negative ? -*n : *n;
}

// --credits N, --no-credits, --refill N/day|month, --no-refill
void credit_options(const Args& args, KeyChanges& c) {
    auto credits = args.value("--credits");
    auto refill = args.value("--refill");
    if (credits && args.flag("--no-credits")) {
        throw UsageError("--credits and --no-credits exclude each other");
    }
    if (refill && args.flag("--no-refill")) {
        throw UsageError("--refill and --no-refill exclude each other");
    }
    if (args.flag("--no-credits") && (refill || args.flag("--no-refill"))) {
        throw UsageError("--no-credits removes the refill too; leave out --refill and --no-refill");
    }
    if (credits) c.credits = checked_credits("--credits", *credits, 0);
    c.no_credits = args.flag("--no-credits");
    if (refill) {
        std::string error;
        auto r = parse_refill(*refill, error);
        if (!r) throw UsageError("invalid --refill: " + error);
        c.refill = r->to_string();
    }
    if (args.flag("--no-refill")) c.refill = "";
}

// The options create, import and update share, as the admin API's body.
KeyChanges key_changes(const Args& args, bool update = false) {
    KeyChanges c;
    if (auto name = args.value("--name")) c.name = checked_name(*name);
    auto scopes = args.values("--scope");
    if (!scopes.empty() || args.flag("--no-scopes")) c.scopes = checked_scopes(scopes);
    auto limits = args.values("--limit");
    if (!limits.empty() || args.flag("--no-limits")) c.limits = checked_limits(limits);
    if (auto e = args.value("--expires-in")) c.expires_in = checked_lifetime(*e);
    c.reason = checked_reason(args);
    c.quota = checked_quota_option(args);
    credit_options(args, c);

    // the key model: owner, role, plan, env, meta, allow_ip
    auto one = [&](const char* option, const char* none, bool (*valid)(std::string_view) noexcept,
                   const char* rule) -> std::optional<std::string> {
        auto v = args.value(option);
        if (v && args.flag(none)) {
            throw UsageError(std::string(option) + " and " + none + " exclude each other");
        }
        if (args.flag(none)) return std::string();
        if (!v) return std::nullopt;
        if (!valid(*v)) throw UsageError("invalid " + std::string(option) + " \"" + *v + "\": " + rule);
        return v;
    };
    c.owner = one("--owner", "--no-owner", valid_owner, "1 to 128 of A-Z a-z 0-9 _ . : @ -");
    c.role = one("--role", "--no-role", valid_group_name,
                 "a-z and 0-9, then also _ . -, at most 64");
    c.plan = one("--plan", "--no-plan", valid_group_name,
                 "a-z and 0-9, then also _ . -, at most 64");
    if (auto env = args.value("--env")) {
        if (*env != "live" && *env != "test") throw UsageError("--env must be live or test");
        c.env = *env;
    }
    std::size_t kept = 0;
    for (const auto& item : args.values("--meta")) {
        std::size_t eq = item.find('=');
        if (eq == std::string::npos) throw UsageError("--meta needs NAME=VALUE, got \"" + item + "\"");
        std::string name = item.substr(0, eq), value = item.substr(eq + 1);
        std::string problem = meta_problem(name, value);
        if (!problem.empty()) throw UsageError(problem);
        c.meta.emplace_back(name, value);
        kept += !value.empty();
    }
    if (kept > kMaxMeta) throw UsageError("at most 16 --meta entries per key");
    auto ips = args.values("--allow-ip");
    if (ips.size() == 1 && ips[0] == "none") {
        if (!update) throw UsageError("--allow-ip none is for update (a new key allows any address)");
        c.allow_ip = "";
    } else if (!ips.empty()) {
        std::string joined, error;
        for (const auto& ip : ips) {
            if (ip == "none") throw UsageError("--allow-ip none cannot go with addresses");
            joined += (joined.empty() ? "" : " ") + ip;
        }
        auto canonical = canonical_cidr_list(joined, &error);
        if (!canonical) throw UsageError("invalid --allow-ip: " + error);
        c.allow_ip = *canonical;
    }
    return c;
}

// The options of the key model, for create, import and update; calendar
// quotas and credits among them.
const std::vector<OptionSpec> kModelOptions = {
    {"--owner", true}, {"--role", true}, {"--plan", true}, {"--meta", true},
    {"--allow-ip", true}, {"--quota", true}, {"--credits", true}, {"--refill", true}};
const std::vector<OptionSpec> kUpdateOnly = {
    {"--no-owner", false}, {"--no-role", false}, {"--no-plan", false},
    {"--no-quota", false}, {"--no-credits", false}, {"--no-refill", false}};

std::vector<OptionSpec> with(std::vector<OptionSpec> specs, const std::vector<OptionSpec>& more) {
    specs.insert(specs.end(), more.begin(), more.end());
    return specs;
}

std::string one_id(const Args& args, const char* command) {
    if (args.positional().size() != 1) {
        throw UsageError(std::string(command) + " needs exactly one key ID");
    }
    const std::string& id = args.positional()[0];
    if (!valid_key_id(id)) {
        throw UsageError("\"" + id + "\" is not a key ID (12 characters of 0-9 and a-z)");
    }
    return id;
}

KeyRecord existing(Store& store, const std::string& id) {
    auto record = store.get(id);
    if (!record) throw Failure("no key with ID " + id);
    return *record;
}

void no_positional(const Args& args) {
    if (!args.positional().empty()) {
        throw UsageError("unexpected argument \"" + args.positional()[0] + "\"");
    }
}

// ---------------------------------------------------------------------------

int create(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, with({{"--name", true}, {"--scope", true}, {"--expires-in", true},
                          {"--limit", true}, {"--reason", true}, {"--json", false},
                          {"--env", true}},
                         kModelOptions));
    no_positional(args);
    auto name = args.value("--name");
    if (!name) throw UsageError("create needs --name");

    KeyChanges changes = key_changes(args);
    KeyEnv env = changes.env.value_or("live") == "test" ? KeyEnv::kTest : KeyEnv::kLive;
    changes.env = env == KeyEnv::kTest ? "test" : "live";

    Store store(options);
    KeyRecord r;
    std::optional<std::string> token;
    // the script refuses an id that exists (one atomic check-and-write)
    for (int attempt = 0;; attempt++) {
        if (attempt == 5) throw Failure("could not find a free key ID");
        auto id = mint_id();
        if (!id) throw Failure("the random number generator failed");
        token = mint_token(*id, env);
        if (!token) throw Failure("the random number generator failed");
        r = new_key_record(changes, *id, digest_of(*token, options),
                           std::string(token_hint(*token)), now());
        AdminReply reply = store.change("create", event_for(r.id, "create", args), fields_of(r));
        if (reply.status == AdminReply::Status::kExists) continue;
        r = changed(reply, r.id);
        break;
    }

    if (args.flag("--json")) {
        std::cout << record_json(r, now(), *token) << "\n";
    } else {
        print_token(r, *token, now(), "Created");
    }
    warn_store_token();
    return 0;
}

int list(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--status", true}, {"--expiring", true}, {"--unused-since", true},
                     {"--json", false}, {"--owner", true}, {"--role", true}, {"--plan", true},
                     {"--env", true}, {"--sort", true}, {"--asc", false}, {"--desc", false},
                     {"--search", true}, {"--limit", true}, {"--after", true}});
    no_positional(args);
    auto status = args.value("--status");
    if (status && *status != "active" && *status != "revoked" && *status != "expired" &&
        *status != "disabled") {
        throw UsageError("--status must be active, revoked, expired or disabled");
    }
    std::int64_t t = now();
    ListQuery query;   // the same filter, order and cursor as GET keys of the admin API
    query.status = status;
    if (auto d = args.value("--expiring")) query.expiring_within = checked_duration("--expiring", *d);
    if (auto d = args.value("--unused-since")) {
        query.unused_since = checked_duration("--unused-since", *d);
    }
    if (auto v = args.value("--owner")) {
        if (!valid_owner(*v)) throw UsageError("invalid --owner \"" + *v + "\"");
        query.owner = *v;
    }
    for (const char* option : {"--role", "--plan"}) {
        if (auto v = args.value(option)) {
            if (!valid_group_name(*v)) throw UsageError("invalid " + std::string(option) + " \"" + *v + "\"");
            (std::string(option) == "--role" ? query.role : query.plan) = *v;
        }
    }
    if (auto v = args.value("--env")) {
        if (*v != "live" && *v != "test") throw UsageError("--env must be live or test");
        query.env = *v;
    }
    if (auto v = args.value("--sort")) {
        if (!valid_sort(*v)) throw UsageError("--sort must be name, created, last_used or expires");
        query.sort = *v;
    }
    if (args.flag("--asc") && args.flag("--desc")) throw UsageError("--asc and --desc exclude each other");
    if (args.flag("--asc")) query.ascending = true;
    if (args.flag("--desc")) query.ascending = false;
    if (auto v = args.value("--search")) {
        if (v->size() > kMaxNameLength || !text_problem(*v, false).empty()) {
            throw UsageError("invalid --search: at most 128 characters, no control characters");
        }
        query.search = *v;
    }
    if (auto v = args.value("--after")) {
        if (!valid_page_cursor(*v)) throw UsageError("invalid --after \"" + *v + "\" (a cursor that list printed)");
        query.after = *v;
    }
    std::size_t want = SIZE_MAX;
    if (auto l = args.value("--limit")) {
        auto n = parse_decimal(*l);
        if (!n || *n < 1 || *n > 100000) throw UsageError("invalid --limit \"" + *l + "\" (1 to 100000)");
        want = static_cast<std::size_t>(*n);
    }

    // page by page through the index, in its order; --expiring and
    // --unused-since are applied here, on each page
    Store store(options);
    std::vector<KeyRecord> records;
    std::string next;
    bool local_filters = query.expiring_within || query.unused_since;
    for (;;) {
        std::size_t ask = local_filters ? kMaxPageSize : std::min(kMaxPageSize, want - records.size());
        bool needs_reindex = false;
        AdminPage page = store.page(query, ask, needs_reindex);
        if (needs_reindex) {
            throw Failure("keys exist but the list index is empty (keys written before the "
                          "index existed): run \"apikeyctl reindex\" once");
        }
        for (std::size_t i = 0; i < page.records.size(); i++) {
            if (!list_matches(page.records[i], query, t)) continue;
            records.push_back(std::move(page.records[i]));
            if (records.size() == want) {
                if (i + 1 < page.records.size() || !page.cursor.empty()) {
                    next = page_cursor(records.back(), query.sort);
                }
                break;
            }
        }
        if (records.size() == want) break;
        if (page.cursor.empty()) break;
        query.after = page.cursor;
    }

    if (args.flag("--json")) {
        print_json_array(records, t);
    } else {
        print_table(records, t);
    }
    if (!next.empty()) {
        std::cerr << "apikeyctl: more keys may follow: add --after " << next << "\n";
    }
    return 0;
}

int show(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--json", false}});
    std::string id = one_id(args, "show");
    Store store(options);
    KeyRecord r = existing(store, id);
    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        print_record(r, now());
    }
    return 0;
}

int update(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, with(with({{"--name", true}, {"--scope", true}, {"--no-scopes", false},
                               {"--expires-in", true}, {"--limit", true}, {"--no-limits", false},
                               {"--reason", true}, {"--json", false}},
                              kModelOptions),
                         kUpdateOnly));
    std::string id = one_id(args, "update");
    auto scopes = args.values("--scope");
    auto limits = args.values("--limit");
    if (!scopes.empty() && args.flag("--no-scopes")) {
        throw UsageError("--scope and --no-scopes exclude each other");
    }
    if (!limits.empty() && args.flag("--no-limits")) {
        throw UsageError("--limit and --no-limits exclude each other");
    }

    KeyChanges changes = key_changes(args, true);
    if (!args.value("--name") && scopes.empty() && !args.flag("--no-scopes") &&
        limits.empty() && !args.flag("--no-limits") && !args.value("--expires-in") &&
        model_fields(changes, false).empty() && quota_fields(changes, now()).empty()) {
        throw UsageError("nothing to update (give --name, --scope, --no-scopes, --expires-in, "
                         "--limit, --no-limits, --owner, --no-owner, --role, --no-role, --plan, "
                         "--no-plan, --meta, --allow-ip, --quota, --no-quota, --credits, "
                         "--no-credits, --refill or --no-refill)");
    }

    Store store(options);
    // only the fields given are written, in one step that needs the record:
    // a revoke, rotate or delete made meanwhile is kept
    std::vector<std::string> fields = changed_fields(changes, now());
    for (auto& f : model_fields(changes, false)) fields.push_back(std::move(f));
    KeyRecord r = changed(store.change("update", event_for(id, "update", args), fields), id);

    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Updated key " << r.id << "\n";
        print_record(r, now());
    }
    return 0;
}

int extend(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--expires-in", true}, {"--reason", true}, {"--json", false}});
    std::string id = one_id(args, "extend");
    auto expires = args.value("--expires-in");
    if (!expires) throw UsageError("extend needs --expires-in");
    KeyChanges extension;
    extension.expires_in = checked_lifetime(*expires);

    Store store(options);
    AdminReply reply = store.change("extend", event_for(id, "extend", args),
                                    changed_fields(extension, now()));
    if (reply.status == AdminReply::Status::kConflict) throw Failure("key " + id + " is revoked");
    KeyRecord r = changed(reply, id);

    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Key " << id << " now expires "
                  << (r.expires ? format_utc(r.expires) + " (" + format_relative(r.expires, now()) + ")"
                                : std::string("never"))
                  << "\n";
    }
    return 0;
}

// revoke --owner ID: every key of the owner not revoked yet, in one script
// on a single Redis (one audit event and one invalidation per key); on a
// Cluster key by key, each conditional on the key's owner.
int revoke_owner(const Args& args, const std::string& owner, const StoreOptions& options) {
    no_positional(args);
    if (!valid_owner(owner)) throw UsageError("invalid --owner \"" + owner + "\"");
    AuditEvent event = event_for(owner, "revoke", args);
    Store store(options);
    std::vector<std::string> revoked;
    if (store.cluster()) {
        for (const auto& id : store.members(store.prefix() + "owner_keys:" + owner)) {
            auto view = store.get(id);
            if (!view || view->owner != owner) continue;   // gone, or moved to another owner
            event.key_id = id;
            AdminReply reply = store.change("revoke", event, {std::to_string(now())});
            if (reply.status == AdminReply::Status::kOk) revoked.push_back(id);
        }
    } else {
        auto reply = store.script(store.prefix() + "owner_keys:" + owner, "owner_revoke", event,
                                  owner, {std::to_string(now())});
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
            throw Failure("unexpected answer from Redis to revoke --owner");
        }
        for (std::size_t i = 1; i < reply->elements; i++) {
            revoked.emplace_back(reply->element[i]->str, reply->element[i]->len);
        }
    }
    if (args.flag("--json")) {
        std::string ids = "[";
        for (const auto& id : revoked) {
            if (ids.size() > 1) ids += ",";
            append_json_string(ids, id);
        }
        JsonObject json;
        json.field("owner", owner).raw_field("revoked", ids + "]");
        std::cout << json.str() << "\n";
    } else if (revoked.empty()) {
        std::cout << "Owner " << owner << " has no key left to revoke.\n";
    } else {
        std::cout << "Revoked " << revoked.size() << (revoked.size() == 1 ? " key" : " keys")
                  << " of owner " << owner << ":";
        for (const auto& id : revoked) std::cout << " " << id;
        std::cout << "\n";
    }
    return 0;
}

int revoke(const std::vector<std::string>& argv_in, const StoreOptions& options) {
    std::vector<std::string> argv = argv_in;
    normalize_wait(argv);
    Args args(argv, {{"--reason", true}, {"--json", false}, {"--owner", true}, {"--wait", true}});
    auto wait = wait_option(args);
    if (auto owner = args.value("--owner")) {
        if (wait) throw UsageError("--wait takes one key, not --owner");
        return revoke_owner(args, *owner, options);
    }
    std::string id = one_id(args, "revoke");
    Store store(options);
    AdminReply reply = store.change("revoke", event_for(id, "revoke", args),
                                    {std::to_string(now())});
    KeyRecord r;
    if (reply.status == AdminReply::Status::kConflict) {   // revoked already: no event
        std::cerr << "apikeyctl: key " << id << " was already revoked\n";
        r = existing(store, id);
    } else {
        r = changed(reply, id);
    }
    std::optional<WaitOutcome> waited;
    if (wait) waited = wait_for_workers(store, id, *wait);
    if (args.flag("--json")) {
        std::cout << (waited ? with_wait(record_json(r, now()), *waited) : record_json(r, now()))
                  << "\n";
    } else {
        std::cout << "Revoked key " << id << " (" << terminal_safe(r.name)
                  << "); it is refused from now on. The record is kept; "
                     "\"apikeyctl delete " << id << "\" removes it.\n";
    }
    return waited ? finish_wait(*waited, *wait, args.flag("--json")) : 0;
}

// disable and enable: a reversible refusal (401 key_disabled), audited.
int set_enabled(const std::vector<std::string>& argv_in, const StoreOptions& options,
                bool enable) {
    const char* verb = enable ? "enable" : "disable";
    std::vector<std::string> argv = argv_in;
    std::vector<OptionSpec> specs{{"--reason", true}, {"--json", false}};
    if (!enable) {
        normalize_wait(argv);
        specs.push_back({"--wait", true});
    }
    Args args(argv, specs);
    auto wait = wait_option(args);
    std::string id = one_id(args, verb);
    Store store(options);
    AdminReply reply = store.change(verb, event_for(id, verb, args), {std::to_string(now())});
    if (reply.status == AdminReply::Status::kConflict) {
        throw Failure("key " + id + ": " + reply.message +
                      (reply.message.find("revoked") != std::string::npos
                           ? " (a revoke is permanent)" : ""));
    }
    KeyRecord r = changed(reply, id);
    std::optional<WaitOutcome> waited;
    if (wait) waited = wait_for_workers(store, id, *wait);
    if (args.flag("--json")) {
        std::cout << (waited ? with_wait(record_json(r, now()), *waited) : record_json(r, now()))
                  << "\n";
    } else if (enable) {
        std::cout << "Enabled key " << id << " (" << terminal_safe(r.name) << ") again.\n";
    } else {
        std::cout << "Disabled key " << id << " (" << terminal_safe(r.name)
                  << "); it is refused (401 key_disabled) until \"apikeyctl enable " << id
                  << "\".\n";
    }
    return waited ? finish_wait(*waited, *wait, args.flag("--json")) : 0;
}

int disable(const std::vector<std::string>& argv, const StoreOptions& options) {
    return set_enabled(argv, options, false);
}

int enable(const std::vector<std::string>& argv, const StoreOptions& options) {
    return set_enabled(argv, options, true);
}

int reindex(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {});
    no_positional(args);
    Store store(options);
    std::size_t n = store.reindex();
    std::cout << "Indexed " << n << (n == 1 ? " key" : " keys") << ".\n";
    return 0;
}

// role and plan: named scope and limit sets that keys refer to.
void print_group(const Group& g, const std::string& kind) {
    auto row = [](const char* label, const std::string& value) {
        std::printf("%-12s %s\n", label, terminal_safe(value).c_str());
    };
    row(kind == "role" ? "Role" : "Plan", g.name);
    if (kind == "role") row("Scopes", g.value.empty() ? "(none)" : g.value);
    else row("Limits", g.value.empty() ? "(none)" : g.value);
    if (kind == "plan") row("Quota", g.quota.empty() ? "(none)" : g.quota);
    row("Description", g.description);
    row("Keys", std::to_string(g.keys));
    row("Created", format_utc(g.created));
    row("Updated", format_utc(g.updated));
}

int group(const std::string& kind, const std::vector<std::string>& argv,
          const StoreOptions& options) {
    bool role = kind == "role";
    const char* item = role ? "--scope" : "--limit";
    const char* no_item = role ? "--no-scopes" : "--no-limits";
    // options anywhere on the line, as for every command; then each must be
    // one of the subcommand's
    Args args(argv, {{item, true}, {no_item, false}, {"--description", true},
                     {"--reason", true}, {"--json", false}, {"--quota", true},
                     {"--no-quota", false}});
    if (args.positional().empty()) {
        throw UsageError(kind + " needs create, update, list, show or delete");
    }
    std::string sub = args.positional()[0];
    std::vector<std::string> allowed;
    if (sub == "create") allowed = {item, "--description", "--reason", "--json"};
    else if (sub == "update") allowed = {item, no_item, "--description", "--reason", "--json"};
    else if (sub == "list" || sub == "show") allowed = {"--json"};
    else if (sub == "delete") allowed = {"--reason"};
    else {
        throw UsageError("unknown " + kind + " command \"" + sub +
                         "\" (create, update, list, show or delete)");
    }
    // a plan's calendar quota
    if (!role && sub == "create") allowed.push_back("--quota");
    if (!role && sub == "update") allowed.insert(allowed.end(), {"--quota", "--no-quota"});
    for (const char* option :
         {item, no_item, "--description", "--reason", "--json", "--quota", "--no-quota"}) {
        bool given = args.flag(option) || !args.values(option).empty();
        if (given && std::find(allowed.begin(), allowed.end(), option) == allowed.end()) {
            throw UsageError(kind + " " + sub + " takes no " + option);
        }
    }

    if (sub == "list") {
        if (args.positional().size() > 1) {
            throw UsageError("unexpected argument \"" + args.positional()[1] + "\"");
        }
        Store store(options);
        std::vector<Group> groups = store.groups(kind);
        if (args.flag("--json")) {
            std::cout << "[";
            for (std::size_t i = 0; i < groups.size(); i++) {
                std::cout << (i ? "," : "") << group_json(groups[i], kind);
            }
            std::cout << "]\n";
        } else {
            std::printf("%-24s %-5s %-40s %s\n", "NAME", "KEYS", role ? "SCOPES" : "LIMITS",
                        "DESCRIPTION");
            for (const auto& g : groups) {
                std::printf("%-24s %-5lld %-40s %s\n", terminal_safe(g.name).c_str(),
                            static_cast<long long>(g.keys),
                            (g.value.empty() ? std::string("-") : terminal_safe(g.value)).c_str(),
                            terminal_safe(g.description).c_str());
            }
            if (groups.empty()) std::cout << "(no " << kind << "s)\n";
        }
        return 0;
    }

    if (args.positional().size() != 2) {
        throw UsageError(kind + " " + sub + " needs exactly one " + kind + " name");
    }
    std::string name = args.positional()[1];
    if (!valid_group_name(name)) {
        throw UsageError("invalid " + kind + " name \"" + name +
                         "\": a-z and 0-9, then also _ . -, at most 64");
    }

    GroupChanges changes;
    if (sub == "create" || sub == "update") {
        auto items = args.values(item);
        if (!items.empty() && args.flag(no_item)) {
            throw UsageError(std::string(item) + " and " + no_item + " exclude each other");
        }
        if (!items.empty() || args.flag(no_item)) {
            changes.value = role ? checked_scopes(items) : checked_limits(items);
        }
        if (auto d = args.value("--description")) {
            std::string problem = description_problem(*d);
            if (!problem.empty()) throw UsageError("invalid --description: " + problem);
            changes.description = *d;
        }
        if (!role) changes.quota = checked_quota_option(args);
        // a plan may hold only a quota
        if (sub == "create" && !changes.value && !(changes.quota && !changes.quota->empty())) {
            throw UsageError(kind + " create needs " + item + " (repeatable)" +
                             (role ? "" : " or --quota"));
        }
        if (sub == "update" && !changes.value && !changes.description && !changes.quota) {
            throw UsageError("nothing to update (give " + std::string(item) + ", " + no_item +
                             (role ? "" : ", --quota, --no-quota") + " or --description)");
        }
    }

    Store store(options);
    std::string action = sub == "show" ? "" : kind + "_" + sub;
    AuditEvent event = event_for(kind + ":" + name, action.c_str(), args);
    Group g;
    std::vector<std::string> ids;
    AdminReply result = store.group_change(kind, sub == "show" ? "get" : sub, event, name,
                                           changes, now(), g, ids);
    switch (result.status) {
    case AdminReply::Status::kNotFound: throw Failure("no " + kind + " \"" + name + "\"");
    case AdminReply::Status::kExists: throw Failure(kind + " \"" + name + "\" exists already");
    case AdminReply::Status::kConflict:
        throw Failure(kind + " \"" + name + "\" is in use: " + result.message +
                      " (move them to another " + kind + " first: apikeyctl update ID --" + kind +
                      " OTHER, or --no-" + kind + ")");
    case AdminReply::Status::kError: throw Failure("unexpected answer from Redis: " + result.message);
    case AdminReply::Status::kOk: break;
    }

    if (sub == "delete") {
        std::cout << "Deleted " << kind << " " << name << "\n";
        return 0;
    }
    if (args.flag("--json")) {
        std::cout << group_json(g, kind) << "\n";
        return 0;
    }
    if (sub == "create") std::cout << "Created " << kind << " " << name << "\n";
    if (sub == "update") {
        std::cout << "Updated " << kind << " " << name << " and its " << ids.size()
                  << (ids.size() == 1 ? " key" : " keys") << "\n";
    }
    print_group(g, kind);
    return 0;
}

int role(const std::vector<std::string>& argv, const StoreOptions& options) {
    return group("role", argv, options);
}

int plan(const std::vector<std::string>& argv, const StoreOptions& options) {
    return group("plan", argv, options);
}

int remove(const std::vector<std::string>& argv_in, const StoreOptions& options) {
    std::vector<std::string> argv = argv_in;
    normalize_wait(argv);
    Args args(argv, {{"--reason", true}, {"--json", false}, {"--wait", true}});
    auto wait = wait_option(args);
    if (args.flag("--json") && !wait) throw UsageError("delete takes --json only with --wait");
    std::string id = one_id(args, "delete");
    AuditEvent event = event_for(id, "delete", args);
    Store store(options);
    KeyRecord r = existing(store, id);
    // the bucket keys are found outside the script (a SCAN of a large
    // keyspace would hold Redis), then the record and they go in one step
    std::vector<std::string> extra{""};
    for (auto& key : store.bucket_keys(id)) extra.push_back(std::move(key));
    changed(store.change("delete", event, extra), id);
    if (!wait) {
        std::cout << "Deleted key " << id << " (" << terminal_safe(r.name) << ")\n";
        return 0;
    }
    WaitOutcome waited = wait_for_workers(store, id, *wait);
    if (args.flag("--json")) {
        JsonObject json;
        json.field("id", id).field("deleted", true);
        std::cout << with_wait(json.str(), waited) << "\n";
    } else {
        std::cout << "Deleted key " << id << " (" << terminal_safe(r.name) << ")\n";
    }
    return finish_wait(waited, *wait, args.flag("--json"));
}

int rotate(const std::vector<std::string>& argv_in, const StoreOptions& options) {
    std::vector<std::string> argv = argv_in;
    normalize_wait(argv);
    Args args(argv, {{"--grace", true}, {"--reason", true}, {"--json", false}, {"--wait", true}});
    auto wait = wait_option(args);
    std::string id = one_id(args, "rotate");
    std::int64_t grace = 0;
    if (auto g = args.value("--grace"); g && *g != "0") grace = checked_duration("--grace", *g);

    AuditEvent event = event_for(id, "rotate", args);
    // the new token keeps the key's environment in its prefix: one of each
    // is minted, and the script takes the one of the key's env (no read
    // before the change, so the rotation stays one step)
    auto live = mint_token(id, KeyEnv::kLive);
    auto test = mint_token(id, KeyEnv::kTest);
    if (!live || !test) throw Failure("the random number generator failed");
    std::string live_digest = digest_of(*live, options);

    // with a grace period the script makes the current token the previous
    // one, which the module accepts until prev_until; without, it stops at
    // once. The token in Redis at that moment is the one moved, so a rotate
    // made meanwhile is not undone.
    Store store(options);
    AdminReply reply = store.change(
        "rotate", event,
        {live_digest, std::string(token_hint(*live)),
         std::to_string(grace > 0 ? now() + grace : 0), std::to_string(now()),
         digest_of(*test, options), std::string(token_hint(*test))});
    if (reply.status == AdminReply::Status::kConflict) {
        if (reply.message.find("imported") != std::string::npos) {
            throw Failure("key " + id + " was imported; its id comes from the old token, so "
                          "create a new key and revoke this one instead");
        }
        throw Failure("key " + id + " is revoked; create a new key instead");
    }
    KeyRecord r = changed(reply, id);
    const std::string* token = r.digest == live_digest ? &*live : &*test;
    std::optional<WaitOutcome> waited;
    if (wait) waited = wait_for_workers(store, id, *wait);

    if (args.flag("--json")) {
        std::cout << (waited ? with_wait(record_json(r, now(), *token), *waited)
                             : record_json(r, now(), *token))
                  << "\n";
    } else {
        print_token(r, *token, now(), "Rotated");
        if (grace > 0) {
            std::cout << "The previous token (..." << r.prev_hint << ") keeps working until "
                      << format_utc(r.prev_until) << " (" << format_relative(r.prev_until, now())
                      << ").\n";
        } else {
            std::cout << "The previous token stopped working.\n";
        }
    }
    warn_store_token();
    return waited ? finish_wait(*waited, *wait, args.flag("--json")) : 0;
}

// The token of a legacy system, read from a file so it never appears in a
// shell history or in ps.
std::string read_token_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure("cannot read the token file \"" + path + "\"");
    std::stringstream text;
    text << in.rdbuf();
    std::string t = text.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    return t;
}

int import(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, with({{"--name", true}, {"--token-file", true}, {"--scope", true},
                          {"--expires-in", true}, {"--limit", true}, {"--reason", true},
                          {"--json", false}, {"--env", true}},
                         kModelOptions));
    no_positional(args);
    auto name = args.value("--name");
    auto file = args.value("--token-file");
    if (!name || !file) throw UsageError("import needs --name and --token-file");
    KeyChanges changes = key_changes(args);

    std::string token = read_token_file(*file);
    if (token.size() < kMinImportedTokenLength || token.size() > kMaxCredentialLength ||
        !is_b64token(token)) {
        throw UsageError("the token in \"" + *file + "\" is not importable: it must be an RFC 6750 "
                         "token (letters, digits, - . _ ~ + / and trailing =) of 16 to 512 "
                         "characters");
    }
    if (parse_token(token).shape == TokenShape::kProject ||
        token.compare(0, kTokenPrefix.size(), kTokenPrefix) == 0) {
        throw UsageError("tokens with this project's prefix are minted, not imported");
    }

    std::array<char, kImportedIdLength> derived;
    if (!imported_key_id(token, options.hash_secret, derived)) {
        throw Failure("cannot hash the token (OpenSSL)");
    }

    KeyRecord r = new_key_record(changes, std::string(derived.data(), derived.size()),
                                 digest_of(token, options), std::string(token_hint(token)),
                                 now());
    r.imported = true;

    Store store(options);
    AdminReply reply = store.change("create", event_for(r.id, "import", args), fields_of(r));
    if (reply.status == AdminReply::Status::kExists) {
        throw Failure("this token was already imported as key " + r.id);
    }
    r = changed(reply, r.id);

    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Imported key " << r.id << " (" << terminal_safe(r.name) << "), token ..."
                  << terminal_safe(r.hint)
                  << ". nginx accepts it where apikey_accept_imported is on.\n";
    }
    return 0;
}

int audit(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--limit", true}, {"--json", false}});
    if (args.positional().size() > 1) throw UsageError("audit takes at most one key ID");
    std::string id = args.positional().empty() ? "" : args.positional()[0];
    if (!id.empty() && !valid_key_id(id)) {
        throw UsageError("\"" + id + "\" is not a key ID (12 characters of 0-9 and a-z)");
    }
    std::size_t limit = 100;
    if (auto l = args.value("--limit")) {
        auto n = parse_decimal(*l);
        if (!n || *n < 1) throw UsageError("invalid --limit \"" + *l + "\"");
        limit = static_cast<std::size_t>(*n);
    }

    Store store(options);
    auto events = store.audit_log(id, limit);
    if (args.flag("--json")) {
        print_audit_json(events);
    } else {
        print_audit(events, now());
    }
    return 0;
}

// A usage report as a table: one line per day, then the total.
void print_usage(const std::vector<UsageDay>& days) {
    std::vector<std::string> results = usage_results(days);
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head{"DATE"};
    for (const auto& r : results) {
        std::string h = r;
        for (auto& c : h) c = static_cast<char>(c == '_' ? ' ' : std::toupper(static_cast<unsigned char>(c)));
        head.push_back(h);
    }
    head.push_back("TOTAL");
    rows.push_back(head);
    UsageDay sum;
    for (const auto& d : days) {
        std::vector<std::string> row{usage_date(d.day)};
        for (const auto& r : results) {
            row.push_back(std::to_string(d.count(r)));
            sum.add(r, d.count(r));
        }
        row.push_back(std::to_string(d.total()));
        rows.push_back(row);
    }
    std::vector<std::string> total{"total"};
    for (const auto& r : results) total.push_back(std::to_string(sum.count(r)));
    total.push_back(std::to_string(sum.total()));
    rows.push_back(total);

    std::vector<std::size_t> width(head.size(), 0);
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); i++) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); i++) {
            // the date left-aligned, counts right-aligned
            std::string pad(width[i] - row[i].size(), ' ');
            line += (i ? "  " : "") + (i ? pad + row[i] : row[i] + pad);
        }
        std::cout << line << "\n";
    }
}

int usage(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--days", true}, {"--owner", true}, {"--json", false}});
    int n = kUsageDefaultDays;
    if (auto d = args.value("--days")) {
        auto v = parse_decimal(*d);
        if (!v || *v < 1 || *v > kUsageKeepDays) {
            throw UsageError("invalid --days \"" + *d + "\" (1 to " +
                             std::to_string(kUsageKeepDays) + ")");
        }
        n = static_cast<int>(*v);
    }
    std::vector<std::uint32_t> days = usage_days(now(), n);
    Store store(options);
    std::vector<UsageDay> report;
    std::string head;

    if (auto owner = args.value("--owner")) {
        no_positional(args);
        if (!valid_owner(*owner)) throw UsageError("invalid --owner \"" + *owner + "\"");
        std::vector<std::string> ids;
        for (const auto& id : store.members(store.prefix() + "owner_keys:" + *owner)) {
            auto view = store.get(id);
            if (view && view->owner == *owner) ids.push_back(id);   // not moved to another owner
        }
        std::sort(ids.begin(), ids.end());
        report.resize(days.size());
        for (std::size_t i = 0; i < days.size(); i++) report[i].day = days[i];
        for (const auto& id : ids) {
            auto one = store.usage(id, days);
            for (std::size_t i = 0; i < one.size(); i++) {
                for (const auto& c : one[i].counts) report[i].add(c.first, c.second);
            }
        }
        head = "{";
        append_json_string(head += "\"owner\":", *owner);
        head += ",\"keys\":[";
        for (std::size_t i = 0; i < ids.size(); i++) {
            if (i) head += ",";
            append_json_string(head, ids[i]);
        }
        head += "],";
        if (!args.flag("--json")) {
            std::cout << "Owner " << *owner << ": " << ids.size() << (ids.size() == 1 ? " key" : " keys")
                      << ", last " << n << (n == 1 ? " day" : " days") << " (UTC)\n";
        }
    } else {
        std::string id = one_id(args, "usage");
        KeyRecord r = existing(store, id);
        report = store.usage(id, days);
        head = "{";
        append_json_string(head += "\"id\":", id);
        head += ",";
        if (!args.flag("--json")) {
            std::cout << "Key " << id << " (" << terminal_safe(r.name) << "), last " << n
                      << (n == 1 ? " day" : " days") << " (UTC)\n";
        }
    }

    if (args.flag("--json")) {
        append_usage_json(head, report);
        std::cout << head << "}\n";
    } else {
        print_usage(report);
    }
    return 0;
}

int limits(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--reset", false}, {"--reason", true}, {"--json", false}});
    std::string id = one_id(args, "limits");
    if (!args.flag("--reset")) throw UsageError("limits needs --reset");
    AuditEvent event = event_for(id, "reset_limits", args);
    Store store(options);
    existing(store, id);
    // the bucket keys are found outside the script, as delete does
    std::vector<std::string> buckets = store.bucket_keys(id);
    std::vector<std::string> extra{""};
    extra.insert(extra.end(), buckets.begin(), buckets.end());
    KeyRecord r = changed(store.change("reset_limits", event, extra), id);
    if (args.flag("--json")) {
        JsonObject json;
        json.field("id", id).field("buckets_reset", static_cast<std::int64_t>(buckets.size()));
        std::cout << json.str() << "\n";
    } else {
        std::cout << "Reset the rate limits of key " << id << " (" << terminal_safe(r.name)
                  << "): " << buckets.size() << (buckets.size() == 1 ? " bucket" : " buckets")
                  << " full again; calendar quotas count from 0.\n";
    }
    return 0;
}

void print_credits(const KeyRecord& r) {
    if (!r.credits) {
        std::cout << "Key " << r.id << " (" << terminal_safe(r.name) << "): no credits (unlimited uses)\n";
    } else {
        std::cout << "Key " << r.id << " (" << terminal_safe(r.name) << "): " << *r.credits
                  << " credits";
        if (r.credits_granted) std::cout << " of " << *r.credits_granted << " granted";
        std::cout << "\n";
    }
    if (!r.refill.empty()) std::cout << "Refill: " << r.refill << " (UTC)\n";
}

std::string credits_json(const KeyRecord& r) {
    JsonObject json;
    json.field("id", r.id);
    if (r.credits) json.field("credits", *r.credits); else json.null_field("credits");
    if (r.credits_granted) json.field("credits_granted", *r.credits_granted);
    else json.null_field("credits_granted");
    if (!r.refill.empty()) json.field("refill", r.refill); else json.null_field("refill");
    return json.str();
}

// credits ID [--set N | --add N]: a key's remaining uses, shown or changed
// in one step of the admin script (with the audit event), so a request
// spending a credit meanwhile is never lost.
int credits(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--set", true}, {"--add", true}, {"--reason", true}, {"--json", false}});
    std::string id = one_id(args, "credits");
    auto set = args.value("--set"), add = args.value("--add");
    if (set && add) throw UsageError("--set and --add exclude each other");
    Store store(options);
    KeyRecord r;
    if (!set && !add) {
        if (args.value("--reason")) throw UsageError("--reason goes with --set or --add");
        r = existing(store, id);
    } else {
        CreditChange change;
        change.add = static_cast<bool>(add);
        change.amount = add ? checked_credits("--add", *add, -kMaxCredits)
                            : checked_credits("--set", *set, 0);
        AdminReply reply = store.change("credits", event_for(id, "credits", args),
                                        credit_arguments(change, now()));
        if (reply.status == AdminReply::Status::kConflict) {
            throw Failure("key " + id + ": " + reply.message + "; nothing changed");
        }
        r = changed(reply, id);
    }
    if (args.flag("--json")) {
        std::cout << credits_json(r) << "\n";
    } else {
        print_credits(r);
    }
    return 0;
}

}  // namespace

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"create", "mint a new key and print its token once",
         "usage: apikeyctl create --name NAME [--scope SCOPE]... [--expires-in DURATION|never]\n"
         "                        [--limit RATE[:BURST]]... [--env live|test] [--owner ID]\n"
         "                        [--role NAME] [--plan NAME] [--meta NAME=VALUE]...\n"
         "                        [--allow-ip CIDR]... [--quota N/PERIOD]... [--credits N]\n"
         "                        [--refill N/day|month] [--reason TEXT] [--json]\n\n"
         "Mints a key and prints its token. The token is shown this once and never\n"
         "stored: only its SHA-256 digest (HMAC-SHA256 with --hash-secret-file) is kept\n"
         "in Redis.\n\n"
         "  --name NAME            what the key is for (1-128 characters)\n"
         "  --scope SCOPE          a scope the key holds; repeat for more\n"
         "  --expires-in DURATION  lifetime: 90d (default), 12h, 1h30m, 2w, 1y, or never\n"
         "  --limit RATE[:BURST]   the key's own rate limit (e.g. 600r/m:50), replacing the\n"
         "                         key-wide apikey_limit lines of nginx.conf; repeat for\n"
         "                         several (at most 8). BURST defaults to RATE's count\n"
         "                         (600r/m means 600r/m:600, one period's worth)\n"
         "  --env live|test        the key's environment, said by its token's prefix\n"
         "                         (ak_live_... or ak_test_...); default live\n"
         "  --owner ID             who the key belongs to (1-128 of A-Z a-z 0-9 _ . : @ -)\n"
         "  --role NAME            a role (apikeyctl role): its scopes add to the key's own\n"
         "  --plan NAME            a plan (apikeyctl plan): its limits apply when the key\n"
         "                         has no --limit of its own\n"
         "  --meta NAME=VALUE      metadata ($apikey_meta_NAME); repeat, at most 16. NAME:\n"
         "                         1-32 of a-z 0-9 _; VALUE: at most 256 bytes, no controls\n"
         "  --allow-ip CIDR        only requests from these addresses (IPv4 or IPv6,\n"
         "                         e.g. 203.0.113.0/24); repeat. Default: any address\n"
         "  --quota N/PERIOD       a calendar quota: at most N requests a UTC day, week\n"
         "                         (Monday to Sunday) or month, e.g. 500/day; repeat,\n"
         "                         at most 3, one per period. Replaces the plan's quota\n"
         "  --credits N            the key's remaining uses (0 to 1000000000000); each\n"
         "                         accepted request spends its location's apikey_cost\n"
         "                         (default 1). Default: unlimited\n"
         "  --refill N/day|month   sets the credits back to N at each UTC day or month\n"
         "                         start (the first at the next one); without --credits\n"
         "                         the key starts with N\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print one JSON object (id, token, name, scopes, status,\n"
         "                         expires_at, ...)\n",
         create},
        {"import", "store the digest of a token minted elsewhere",
         "usage: apikeyctl import --name NAME --token-file FILE [--scope SCOPE]...\n"
         "                        [--expires-in DURATION|never] [--limit RATE[:BURST]]...\n"
         "                        [--env live|test] [--owner ID] [--role NAME] [--plan NAME]\n"
         "                        [--meta NAME=VALUE]... [--allow-ip CIDR]...\n"
         "                        [--quota N/PERIOD]... [--credits N] [--refill N/day|month]\n"
         "                        [--reason TEXT] [--json]\n\n"
         "Keeps a legacy system's token working: only its digest is stored, under an id\n"
         "derived from the token (it has none of its own). nginx accepts imported tokens\n"
         "where apikey_accept_imported is on; they have no checksum, so a typo in one\n"
         "costs a Redis round trip. An imported key cannot be rotated.\n\n"
         "  --name NAME            what the key is for (1-128 characters)\n"
         "  --token-file FILE      a file holding the token alone (16 to 512 characters\n"
         "                         of an RFC 6750 token), so it never appears in a shell\n"
         "                         history or in ps\n"
         "  --scope SCOPE          a scope the key holds; repeat for more\n"
         "  --expires-in DURATION  lifetime: 90d (default), 12h, 1h30m, 2w, 1y, or never\n"
         "  --limit RATE[:BURST]   the key's own rate limit, as for create; repeatable\n"
         "  --env live|test        the key's environment (default live)\n"
         "  --owner ID, --role NAME, --plan NAME, --meta NAME=VALUE, --allow-ip CIDR,\n"
         "  --quota N/PERIOD, --credits N, --refill N/day|month\n"
         "                         as for create\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print one JSON object (no token)\n",
         import},
        {"list", "list keys (never their tokens)",
         "usage: apikeyctl list [--status active|revoked|expired|disabled] [--owner ID]\n"
         "                      [--role NAME] [--plan NAME] [--env live|test]\n"
         "                      [--search TEXT] [--sort created|name|last_used|expires]\n"
         "                      [--asc|--desc] [--limit N] [--after CURSOR]\n"
         "                      [--expiring DURATION] [--unused-since DURATION] [--json]\n\n"
         "Lists keys: id, name, owner, role, plan, env, token hint, scopes, created, last\n"
         "used, expiry, status (\"active (rotating)\" during a rotation grace). Newest\n"
         "first by default, read page by page from the sorted indexes; keys written\n"
         "before the indexes existed appear after \"apikeyctl reindex\".\n\n"
         "  --status S             only keys in that state\n"
         "  --owner ID             only the keys of that owner\n"
         "  --role NAME            only the keys of that role\n"
         "  --plan NAME            only the keys of that plan\n"
         "  --env live|test        only live or only test keys\n"
         "  --search TEXT          only keys whose name contains TEXT (ASCII letters\n"
         "                         compared without case)\n"
         "  --sort ORDER           created (default, newest first), name (A to Z),\n"
         "                         last_used (most recent first) or expires (soonest\n"
         "                         first, never last)\n"
         "  --asc, --desc          the other direction\n"
         "  --limit N              at most N keys; when more may follow, the cursor to\n"
         "                         continue with is printed on standard error\n"
         "  --after CURSOR         continue after the key that CURSOR names (printed by\n"
         "                         an earlier list with --limit, same --sort)\n"
         "  --expiring 14d         active keys that expire within that time\n"
         "  --unused-since 30d     keys not used for that long (never-used keys older\n"
         "                         than that too): candidates for deletion\n"
         "  --json                 print a JSON array of objects, as show --json\n",
         list},
        {"show", "show one key",
         "usage: apikeyctl show ID [--json]\n\n"
         "Prints one key: id, name, status, token hint, scopes, limits (or \"configured\n"
         "in nginx\"), created, last used, expiry and, once revoked, when. Never the\n"
         "token. During a rotation grace (rotate --grace) it also shows the previous\n"
         "token's hint and when that token stops working.\n\n"
         "  --json                 print one JSON object: id, name, scopes, status, hint,\n"
         "                         limits, created_at, expires_at, revoked_at,\n"
         "                         last_used_at, previous_token ({hint, valid_until}\n"
         "                         during a grace, else null), imported; on a key a\n"
         "                         leaked-key report named (nginx's apikey_leak_report),\n"
         "                         also leaked_at and leak_url; where set, quota (the\n"
         "                         key's own), plan_quota (its plan's), credits,\n"
         "                         credits_granted and refill\n",
         show},
        {"update", "change a key's name, scopes, expiry, limits, owner, role, plan, ...",
         "usage: apikeyctl update ID [--name NAME] [--scope SCOPE]... [--no-scopes]\n"
         "                           [--expires-in DURATION|never] [--limit RATE[:BURST]]...\n"
         "                           [--no-limits] [--owner ID|--no-owner]\n"
         "                           [--role NAME|--no-role] [--plan NAME|--no-plan]\n"
         "                           [--meta NAME=VALUE]... [--allow-ip CIDR|none]...\n"
         "                           [--quota N/PERIOD...|--no-quota]\n"
         "                           [--credits N|--no-credits]\n"
         "                           [--refill N/day|month|--no-refill]\n"
         "                           [--reason TEXT] [--json]\n\n"
         "Changes what is given; at least one change is needed. Takes effect on the next\n"
         "request.\n\n"
         "  --name NAME            a new name (1-128 characters)\n"
         "  --scope SCOPE          replaces the key's scopes with the ones given; repeat\n"
         "  --no-scopes            removes every scope\n"
         "  --expires-in DURATION  a new lifetime, counted from now, or never\n"
         "  --limit RATE[:BURST]   replaces the key's own limits with the ones given\n"
         "                         (BURST defaults to RATE's count); repeat\n"
         "  --no-limits            removes them: the plan's or the apikey_limit lines\n"
         "                         apply again\n"
         "  --owner ID             a new owner; --no-owner removes it\n"
         "  --role NAME            a new role; --no-role removes it\n"
         "  --plan NAME            a new plan; --no-plan removes it\n"
         "  --meta NAME=VALUE      sets one metadata entry, keeping the others;\n"
         "                         --meta NAME= removes it; repeat\n"
         "  --allow-ip CIDR        replaces the address list; repeat; --allow-ip none\n"
         "                         removes it (any address)\n"
         "  --quota N/PERIOD       replaces the key's own calendar quotas (N/day,\n"
         "                         N/week, N/month; repeat, at most 3, one per period)\n"
         "  --no-quota             removes them: the plan's quota applies again\n"
         "  --credits N            grants N credits (remaining uses, 0 to 10^12);\n"
         "                         \"apikeyctl credits\" adds to them\n"
         "  --no-credits           removes the credits and the refill: unlimited uses\n"
         "  --refill N/day|month   sets the credits back to N at each UTC day or month\n"
         "                         start, from the next one on; --no-refill stops it\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print the updated key as one JSON object\n",
         update},
        {"extend", "move a key's expiry",
         "usage: apikeyctl extend ID --expires-in DURATION|never [--reason TEXT] [--json]\n\n"
         "Moves the expiry of a key that is not revoked (an expired one works again).\n\n"
         "  --expires-in DURATION  the new expiry, counted from now, or never\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print the key as one JSON object\n",
         extend},
        {"revoke", "stop a key (or every key of an owner) at once, keeping the records",
         "usage: apikeyctl revoke ID [--reason TEXT] [--wait [TIMEOUT]] [--json]\n"
         "       apikeyctl revoke --owner ID [--reason TEXT] [--json]\n\n"
         "The key is refused (401 revoked_key) from the next request on. The record stays\n"
         "for audit; \"delete\" removes it. A revoke is permanent (see disable).\n\n"
         "  --owner ID             every key of that owner not revoked yet (active,\n"
         "                         disabled or expired), in one step; one audit event\n"
         "                         per key\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --wait [TIMEOUT]       then wait until every nginx worker with apikey_cache\n"
         "                         (every instance on this Redis) has dropped the key\n"
         "                         from its cache, at most TIMEOUT (default 10s; 500ms,\n"
         "                         2s, 1m); exit status 3 and the workers that did not\n"
         "                         confirm, by instance, when the time is up\n"
         "  --json                 print the key as one JSON object (--owner: the owner\n"
         "                         and the ids revoked)\n",
         revoke},
        {"disable", "refuse a key until it is enabled again",
         "usage: apikeyctl disable ID [--reason TEXT] [--wait [TIMEOUT]] [--json]\n\n"
         "The key is refused (401 key_disabled) from the next request on, until\n"
         "\"apikeyctl enable ID\". A revoked key cannot be disabled.\n\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --wait [TIMEOUT]       then wait until every nginx worker with apikey_cache\n"
         "                         (every instance on this Redis) has dropped the key\n"
         "                         from its cache, at most TIMEOUT (default 10s; 500ms,\n"
         "                         2s, 1m); exit status 3 and the workers that did not\n"
         "                         confirm, by instance, when the time is up\n"

         "  --json                 print the key as one JSON object\n",
         disable},
        {"enable", "accept a disabled key again",
         "usage: apikeyctl enable ID [--reason TEXT] [--json]\n\n"
         "Only a disabled key: a revoked key stays revoked.\n\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print the key as one JSON object\n",
         enable},
        {"delete", "remove a key's record and rate-limit state",
         "usage: apikeyctl delete ID [--reason TEXT] [--wait [TIMEOUT] [--json]]\n\n"
         "Afterwards the key is unknown (401 invalid_key).\n\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --wait [TIMEOUT]       then wait until every nginx worker with apikey_cache\n"
         "                         (every instance on this Redis) has dropped the key\n"
         "                         from its cache, at most TIMEOUT (default 10s; 500ms,\n"
         "                         2s, 1m); exit status 3 and the workers that did not\n"
         "                         confirm, by instance, when the time is up\n"
         "  --json                 with --wait: print {\"id\", \"deleted\", \"wait\"}\n",
         remove},
        {"rotate", "give a key a new token; the old one stops at once or after a grace",
         "usage: apikeyctl rotate ID [--grace DURATION] [--reason TEXT] [--wait [TIMEOUT]]\n"
         "                          [--json]\n\n"
         "Same id, name, scopes, limits and expiry; a new secret, shown once, working at\n"
         "once. Rate limits are shared by both tokens. Revoked and imported keys cannot\n"
         "be rotated.\n\n"
         "  --grace DURATION       how long the previous token keeps working, e.g. 1h, so\n"
         "                         an integration can roll over without an outage;\n"
         "                         default 0: it stops at once\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --wait [TIMEOUT]       then wait until every nginx worker with apikey_cache\n"
         "                         (every instance on this Redis) has dropped the key\n"
         "                         from its cache, at most TIMEOUT (default 10s; 500ms,\n"
         "                         2s, 1m); exit status 3 and the workers that did not\n"
         "                         confirm, by instance, when the time is up\n"

         "  --json                 print one JSON object with the new token\n",
         rotate},
        {"role", "named scope sets: role create|update|list|show|delete",
         "usage: apikeyctl role create NAME --scope SCOPE... [--description TEXT]\n"
         "                             [--reason TEXT] [--json]\n"
         "       apikeyctl role update NAME [--scope SCOPE...|--no-scopes]\n"
         "                             [--description TEXT] [--reason TEXT] [--json]\n"
         "       apikeyctl role list [--json]\n"
         "       apikeyctl role show NAME [--json]\n"
         "       apikeyctl role delete NAME [--reason TEXT]\n\n"
         "A key of a role (create/update --role NAME) holds its own scopes plus the\n"
         "role's. Updating a role changes every key of it at once (nginx caches drop\n"
         "them); a role is deleted only when no key uses it. NAME: a-z and 0-9, then\n"
         "also _ . -, at most 64. Changes are audited (key \"role:NAME\").\n\n"
         "  --scope SCOPE          a scope of the role; repeat (update: replaces them)\n"
         "  --no-scopes            update: the role holds no scope\n"
         "  --description TEXT     what the role is for\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print JSON (list: an array)\n",
         role},
        {"plan", "named limit sets: plan create|update|list|show|delete",
         "usage: apikeyctl plan create NAME --limit RATE[:BURST]... [--quota N/PERIOD]...\n"
         "                             [--description TEXT] [--reason TEXT] [--json]\n"
         "       apikeyctl plan update NAME [--limit RATE[:BURST]...|--no-limits]\n"
         "                             [--quota N/PERIOD...|--no-quota]\n"
         "                             [--description TEXT] [--reason TEXT] [--json]\n"
         "       apikeyctl plan list [--json]\n"
         "       apikeyctl plan show NAME [--json]\n"
         "       apikeyctl plan delete NAME [--reason TEXT]\n\n"
         "A key of a plan (create/update --plan NAME) is limited by the plan's limits\n"
         "unless it has --limit lines of its own, and by its quota unless it has a\n"
         "--quota of its own. Updating a plan changes every key of it at once; a plan\n"
         "is deleted only when no key uses it. Audited (key \"plan:NAME\").\n\n"
         "  --limit RATE[:BURST]   a limit of the plan (e.g. 600r/m:50); repeat, at most 8\n"
         "                         (create: --limit or --quota is needed)\n"
         "  --no-limits            update: the plan sets no limit\n"
         "  --quota N/PERIOD       a calendar quota of the plan (N/day, N/week, N/month);\n"
         "                         repeat, at most 3, one per period (update: replaces)\n"
         "  --no-quota             update: the plan sets no quota\n"
         "  --description TEXT     what the plan is for\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print JSON (list: an array)\n",
         plan},
        {"reindex", "rebuild the list indexes from the records",
         "usage: apikeyctl reindex\n\n"
         "Rebuilds the sorted indexes that list reads (<prefix>idx:created, idx:expires,\n"
         "idx:last_used, idx:name) and the role, plan and owner sets from the records,\n"
         "with SCAN, and drops entries whose record is gone. Run it once after upgrading\n"
         "from a version without indexes; it is safe to run at any time.\n",
         reindex},
        {"usage", "show a key's (or an owner's) requests per day, by result",
         "usage: apikeyctl usage ID [--days N] [--json]\n"
         "       apikeyctl usage --owner ID [--days N] [--json]\n\n"
         "Requests per UTC day, by result: ok, forbidden (a scope, the address list or\n"
         "the environment refused), limited (429), invalid (the key was revoked,\n"
         "expired or disabled). Requests with an unknown key are not counted. Each\n"
         "nginx worker counts in memory and writes at most once a second, so the last\n"
         "second may not show yet. Counts are kept 90 days.\n\n"
         "  --days N               the last N days, today included (default 30, at\n"
         "                         most 90)\n"
         "  --owner ID             the sum over every key of that owner\n"
         "  --json                 print one JSON object: id (or owner and keys), days\n"
         "                         ([{date, ok, forbidden, limited, invalid, total}],\n"
         "                         oldest first) and total\n",
         usage},
        {"limits", "support: refill a key's rate-limit buckets and quotas (--reset)",
         "usage: apikeyctl limits ID --reset [--reason TEXT] [--json]\n\n"
         "Deletes the key's bucket state in Redis: every bucket of the key is full\n"
         "again on its next request. Its calendar quota counters (<prefix>quota:{ID})\n"
         "are deleted too: its quotas count from 0. Credits are not touched (see\n"
         "credits). Recorded in the audit stream (reset_limits).\n"
         "Buckets of apikey_local_limits live in nginx's memory and are not reset;\n"
         "owner buckets (per=owner) are shared with other keys and are not reset.\n\n"
         "  --reset                refill the buckets (required)\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print {id, buckets_reset}\n",
         limits},
        {"credits", "show or change a key's credits (remaining uses)",
         "usage: apikeyctl credits ID [--set N | --add N] [--reason TEXT] [--json]\n\n"
         "Without --set or --add, prints the key's credits, the credits last granted\n"
         "and the refill. --set and --add change them in one step in Redis, so uses\n"
         "spent meanwhile are not lost, recorded in the audit stream (credits).\n\n"
         "  --set N                the credits become N (0 to 1000000000000), as does\n"
         "                         credits_granted\n"
         "  --add N                adds N to the credits and to credits_granted; N may\n"
         "                         be negative, but a result below 0 is refused (exit\n"
         "                         status 1, nothing changed). A key without credits\n"
         "                         (unlimited) starts from 0: --add 100 gives it 100\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print {id, credits, credits_granted, refill} (null\n"
         "                         when unset: credits null means unlimited)\n",
         credits},
        {"audit", "show the audit stream of changes",
         "usage: apikeyctl audit [ID] [--limit N] [--json]\n\n"
         "Every create, import, update, extend, rotate, revoke, disable, enable,\n"
         "delete, credits and reset_limits, and every role and plan change (key role:NAME or plan:NAME), newest\n"
         "first (only those of key ID when given): time, key, action, the OS user who ran\n"
         "apikeyctl (sudo's caller under sudo), and the --reason given. Kept in the Redis\n"
         "stream <prefix>audit, capped at about 100000 events.\n\n"
         "  --limit N              show at most N events (default 100)\n"
         "  --json                 print a JSON array of events\n",
         audit},
    };
    return table;
}

}  // namespace apikey::cli
