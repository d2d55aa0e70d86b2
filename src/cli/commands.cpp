#include "commands.hpp"

#include <ctime>
#include <iostream>

#include "args.hpp"
#include "digest.hpp"
#include "duration.hpp"
#include "mint.hpp"
#include "output.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "token.hpp"

namespace apikey::cli {

namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string digest_of(const std::string& token, const StoreOptions& options) {
    DigestHex hex;
    if (!token_digest(token, options.hash_secret, hex)) {
        throw Failure("cannot hash the token (OpenSSL)");
    }
    return std::string(hex.data(), hex.size());
}

std::string checked_name(const std::string& name) {
    if (!valid_key_name(name)) {
        throw UsageError("invalid --name: 1 to 128 characters, no control characters");
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

// "90d", "never" -> unix time of expiry, 0 for never
std::int64_t checked_expiry(const std::string& text, std::int64_t from) {
    if (text == "never") return 0;
    auto seconds = parse_duration(text);
    if (!seconds) {
        throw UsageError("invalid --expires-in \"" + text +
                         "\" (examples: 90d, 12h, 1h30m, 2w, 1y, never)");
    }
    return from + *seconds;
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
    Args args(argv, {{"--name", true}, {"--scope", true}, {"--expires-in", true},
                     {"--limit", true}, {"--json", false}});
    no_positional(args);
    auto name = args.value("--name");
    if (!name) throw UsageError("create needs --name");

    KeyRecord r;
    r.name = checked_name(*name);
    r.scopes = checked_scopes(args.values("--scope"));
    r.limits = checked_limits(args.values("--limit"));
    r.created = r.updated = now();
    r.expires = checked_expiry(args.value("--expires-in").value_or("90d"), r.created);
    r.status = "active";

    Store store(options);
    for (int attempt = 0; attempt < 5 && r.id.empty(); attempt++) {
        auto id = mint_id();
        if (!id) throw Failure("the random number generator failed");
        if (!store.exists(*id)) r.id = *id;
    }
    if (r.id.empty()) throw Failure("could not find a free key ID");

    auto token = mint_token(r.id);
    if (!token) throw Failure("the random number generator failed");
    r.digest = digest_of(*token, options);
    r.hint = std::string(token_hint(*token));
    store.put(r);

    if (args.flag("--json")) {
        std::cout << record_json(r, now(), *token) << "\n";
    } else {
        print_token(r, *token, now(), "Created");
    }
    warn_store_token();
    return 0;
}

int list(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--status", true}, {"--json", false}});
    no_positional(args);
    auto status = args.value("--status");
    if (status && *status != "active" && *status != "revoked" && *status != "expired") {
        throw UsageError("--status must be active, revoked or expired");
    }

    Store store(options);
    std::vector<KeyRecord> records;
    std::int64_t t = now();
    for (auto& r : store.all()) {
        if (!status || r.effective_status(t) == *status) records.push_back(std::move(r));
    }
    if (args.flag("--json")) {
        print_json_array(records, t);
    } else {
        print_table(records, t);
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
    Args args(argv, {{"--name", true}, {"--scope", true}, {"--no-scopes", false},
                     {"--expires-in", true}, {"--limit", true}, {"--no-limits", false},
                     {"--json", false}});
    std::string id = one_id(args, "update");
    auto scopes = args.values("--scope");
    auto limits = args.values("--limit");
    if (!scopes.empty() && args.flag("--no-scopes")) {
        throw UsageError("--scope and --no-scopes exclude each other");
    }
    if (!limits.empty() && args.flag("--no-limits")) {
        throw UsageError("--limit and --no-limits exclude each other");
    }

    if (!args.value("--name") && scopes.empty() && !args.flag("--no-scopes") &&
        limits.empty() && !args.flag("--no-limits") && !args.value("--expires-in")) {
        throw UsageError("nothing to update (give --name, --scope, --no-scopes, --expires-in, "
                         "--limit or --no-limits)");
    }

    Store store(options);
    KeyRecord r = existing(store, id);
    if (auto name = args.value("--name")) {
        r.name = checked_name(*name);
    }
    if (!scopes.empty() || args.flag("--no-scopes")) {
        r.scopes = checked_scopes(scopes);
    }
    if (!limits.empty() || args.flag("--no-limits")) {
        r.limits = checked_limits(limits);
    }
    if (auto expires = args.value("--expires-in")) {
        r.expires = checked_expiry(*expires, now());
    }
    r.updated = now();
    store.put(r);

    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Updated key " << r.id << "\n";
        print_record(r, now());
    }
    return 0;
}

int revoke(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--json", false}});
    std::string id = one_id(args, "revoke");
    Store store(options);
    KeyRecord r = existing(store, id);
    if (r.status == "revoked") {
        std::cerr << "apikeyctl: key " << id << " was already revoked\n";
    } else {
        r.status = "revoked";
        r.revoked_at = r.updated = now();
        store.put(r);
    }
    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Revoked key " << id << " (" << r.name
                  << "); it is refused from now on. The record is kept; "
                     "\"apikeyctl delete " << id << "\" removes it.\n";
    }
    return 0;
}

int remove(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {});
    std::string id = one_id(args, "delete");
    Store store(options);
    KeyRecord r = existing(store, id);
    store.remove(id);
    std::cout << "Deleted key " << id << " (" << r.name << ")\n";
    return 0;
}

int rotate(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--json", false}});
    std::string id = one_id(args, "rotate");
    Store store(options);
    KeyRecord r = existing(store, id);
    if (r.status == "revoked") {
        throw Failure("key " + id + " is revoked; create a new key instead");
    }
    auto token = mint_token(r.id);
    if (!token) throw Failure("the random number generator failed");
    r.digest = digest_of(*token, options);
    r.hint = std::string(token_hint(*token));
    r.updated = now();
    store.put(r);

    if (args.flag("--json")) {
        std::cout << record_json(r, now(), *token) << "\n";
    } else {
        print_token(r, *token, now(), "Rotated");
        std::cout << "The previous token stopped working.\n";
    }
    warn_store_token();
    return 0;
}

}  // namespace

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"create", "mint a new key and print its token once",
         "usage: apikeyctl create --name NAME [--scope SCOPE]... [--expires-in DURATION|never]\n"
         "                        [--limit RATE[:BURST]]... [--json]\n\n"
         "Mints a key and prints its token. The token is shown this once and never\n"
         "stored: only its SHA-256 digest is kept in Redis.\n\n"
         "  --name NAME            what the key is for (1-128 characters)\n"
         "  --scope SCOPE          a scope the key holds; repeat for more\n"
         "  --expires-in DURATION  lifetime: 90d (default), 12h, 1h30m, 2w, 1y, or never\n"
         "  --limit RATE[:BURST]   the key's own rate limit (e.g. 600r/m:50), replacing the\n"
         "                         key-wide apikey_limit lines of nginx.conf; repeatable\n"
         "  --json                 print one JSON object (id, token, name, scopes, status,\n"
         "                         expires_at, ...)\n",
         create},
        {"list", "list keys (never their tokens)",
         "usage: apikeyctl list [--status active|revoked|expired] [--json]\n\n"
         "Lists every key: id, name, token hint, scopes, created, last used, expiry, status.\n",
         list},
        {"show", "show one key",
         "usage: apikeyctl show ID [--json]\n", show},
        {"update", "change a key's name, scopes, expiry or limits",
         "usage: apikeyctl update ID [--name NAME] [--scope SCOPE]... [--no-scopes]\n"
         "                           [--expires-in DURATION|never] [--limit RATE[:BURST]]...\n"
         "                           [--no-limits] [--json]\n\n"
         "--scope replaces the key's scopes with the ones given; --limit replaces its\n"
         "limits; --expires-in counts from now. Takes effect on the next request.\n",
         update},
        {"revoke", "stop a key at once, keeping its record",
         "usage: apikeyctl revoke ID [--json]\n\n"
         "The key is refused (401 revoked_key) from the next request on. The record stays\n"
         "for audit; \"delete\" removes it.\n",
         revoke},
        {"delete", "remove a key's record and rate-limit state",
         "usage: apikeyctl delete ID\n\n"
         "Afterwards the key is unknown (401 invalid_key).\n",
         remove},
        {"rotate", "give a key a new token; the old one stops at once",
         "usage: apikeyctl rotate ID [--json]\n\n"
         "Same id, name, scopes, limits and expiry; a new secret. The new token is shown\n"
         "once.\n",
         rotate},
    };
    return table;
}

}  // namespace apikey::cli
