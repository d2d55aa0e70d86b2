#include "commands.hpp"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

#include "args.hpp"
#include "digest.hpp"
#include "duration.hpp"
#include "mint.hpp"
#include "output.hpp"
#include "rate.hpp"
#include "scope.hpp"
#include "text.hpp"
#include "number.hpp"
#include "token.hpp"

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

// The options create, import and update share, as the admin API's body.
KeyChanges key_changes(const Args& args) {
    KeyChanges c;
    if (auto name = args.value("--name")) c.name = checked_name(*name);
    auto scopes = args.values("--scope");
    if (!scopes.empty() || args.flag("--no-scopes")) c.scopes = checked_scopes(scopes);
    auto limits = args.values("--limit");
    if (!limits.empty() || args.flag("--no-limits")) c.limits = checked_limits(limits);
    if (auto e = args.value("--expires-in")) c.expires_in = checked_lifetime(*e);
    c.reason = checked_reason(args);
    return c;
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
                     {"--limit", true}, {"--reason", true}, {"--json", false}});
    no_positional(args);
    auto name = args.value("--name");
    if (!name) throw UsageError("create needs --name");

    KeyChanges changes = key_changes(args);

    Store store(options);
    KeyRecord r;
    std::optional<std::string> token;
    // the script refuses an id that exists (one atomic check-and-write)
    for (int attempt = 0;; attempt++) {
        if (attempt == 5) throw Failure("could not find a free key ID");
        auto id = mint_id();
        if (!id) throw Failure("the random number generator failed");
        token = mint_token(*id);
        if (!token) throw Failure("the random number generator failed");
        r = new_key_record(changes, *id, digest_of(*token, options),
                           std::string(token_hint(*token)), now());
        AdminReply reply = store.change("create", event_for(r.id, "create", args), fields_of(r));
        if (reply.status == AdminReply::Status::kExists) continue;
        changed(reply, r.id);
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
                     {"--json", false}});
    no_positional(args);
    auto status = args.value("--status");
    if (status && *status != "active" && *status != "revoked" && *status != "expired") {
        throw UsageError("--status must be active, revoked or expired");
    }
    std::int64_t t = now();
    ListQuery query;   // the same filter as GET keys of the admin API
    query.status = status;
    if (auto d = args.value("--expiring")) query.expiring_within = checked_duration("--expiring", *d);
    if (auto d = args.value("--unused-since")) {
        query.unused_since = checked_duration("--unused-since", *d);
    }

    Store store(options);
    std::vector<KeyRecord> records;
    for (auto& r : store.all()) {
        if (list_matches(r, query, t)) records.push_back(std::move(r));
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
                     {"--reason", true}, {"--json", false}});
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

    KeyChanges changes = key_changes(args);
    Store store(options);
    // only the fields given are written, in one step that needs the record:
    // a revoke, rotate or delete made meanwhile is kept
    KeyRecord r = changed(store.change("update", event_for(id, "update", args),
                                       changed_fields(changes, now())),
                          id);

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

int revoke(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--reason", true}, {"--json", false}});
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
    if (args.flag("--json")) {
        std::cout << record_json(r, now()) << "\n";
    } else {
        std::cout << "Revoked key " << id << " (" << terminal_safe(r.name)
                  << "); it is refused from now on. The record is kept; "
                     "\"apikeyctl delete " << id << "\" removes it.\n";
    }
    return 0;
}

int remove(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--reason", true}});
    std::string id = one_id(args, "delete");
    AuditEvent event = event_for(id, "delete", args);
    Store store(options);
    KeyRecord r = existing(store, id);
    // the bucket keys are found outside the script (a SCAN of a large
    // keyspace would hold Redis), then the record and they go in one step
    std::vector<std::string> extra{""};
    for (auto& key : store.bucket_keys(id)) extra.push_back(std::move(key));
    changed(store.change("delete", event, extra), id);
    std::cout << "Deleted key " << id << " (" << terminal_safe(r.name) << ")\n";
    return 0;
}

int rotate(const std::vector<std::string>& argv, const StoreOptions& options) {
    Args args(argv, {{"--grace", true}, {"--reason", true}, {"--json", false}});
    std::string id = one_id(args, "rotate");
    std::int64_t grace = 0;
    if (auto g = args.value("--grace"); g && *g != "0") grace = checked_duration("--grace", *g);

    AuditEvent event = event_for(id, "rotate", args);
    auto token = mint_token(id);
    if (!token) throw Failure("the random number generator failed");

    // with a grace period the script makes the current token the previous
    // one, which the module accepts until prev_until; without, it stops at
    // once. The token in Redis at that moment is the one moved, so a rotate
    // made meanwhile is not undone.
    Store store(options);
    AdminReply reply = store.change(
        "rotate", event,
        {digest_of(*token, options), std::string(token_hint(*token)),
         std::to_string(grace > 0 ? now() + grace : 0), std::to_string(now())});
    if (reply.status == AdminReply::Status::kConflict) {
        if (reply.message.find("imported") != std::string::npos) {
            throw Failure("key " + id + " was imported; its id comes from the old token, so "
                          "create a new key and revoke this one instead");
        }
        throw Failure("key " + id + " is revoked; create a new key instead");
    }
    KeyRecord r = changed(reply, id);

    if (args.flag("--json")) {
        std::cout << record_json(r, now(), *token) << "\n";
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
    return 0;
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
    Args args(argv, {{"--name", true}, {"--token-file", true}, {"--scope", true},
                     {"--expires-in", true}, {"--limit", true}, {"--reason", true},
                     {"--json", false}});
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
    changed(reply, r.id);

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

}  // namespace

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"create", "mint a new key and print its token once",
         "usage: apikeyctl create --name NAME [--scope SCOPE]... [--expires-in DURATION|never]\n"
         "                        [--limit RATE[:BURST]]... [--reason TEXT] [--json]\n\n"
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
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print one JSON object (id, token, name, scopes, status,\n"
         "                         expires_at, ...)\n",
         create},
        {"import", "store the digest of a token minted elsewhere",
         "usage: apikeyctl import --name NAME --token-file FILE [--scope SCOPE]...\n"
         "                        [--expires-in DURATION|never] [--limit RATE[:BURST]]...\n"
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
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print one JSON object (no token)\n",
         import},
        {"list", "list keys (never their tokens)",
         "usage: apikeyctl list [--status active|revoked|expired] [--expiring DURATION]\n"
         "                      [--unused-since DURATION] [--json]\n\n"
         "Lists keys: id, name, token hint, scopes, created, last used, expiry, status\n"
         "(\"active (rotating)\" during a rotation grace).\n\n"
         "  --status S             only keys in that state\n"
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
         "                         during a grace, else null), imported\n",
         show},
        {"update", "change a key's name, scopes, expiry or limits",
         "usage: apikeyctl update ID [--name NAME] [--scope SCOPE]... [--no-scopes]\n"
         "                           [--expires-in DURATION|never] [--limit RATE[:BURST]]...\n"
         "                           [--no-limits] [--reason TEXT] [--json]\n\n"
         "Changes what is given; at least one change is needed. Takes effect on the next\n"
         "request.\n\n"
         "  --name NAME            a new name (1-128 characters)\n"
         "  --scope SCOPE          replaces the key's scopes with the ones given; repeat\n"
         "  --no-scopes            removes every scope\n"
         "  --expires-in DURATION  a new lifetime, counted from now, or never\n"
         "  --limit RATE[:BURST]   replaces the key's own limits with the ones given\n"
         "                         (BURST defaults to RATE's count); repeat\n"
         "  --no-limits            removes them: the apikey_limit lines apply again\n"
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
        {"revoke", "stop a key at once, keeping its record",
         "usage: apikeyctl revoke ID [--reason TEXT] [--json]\n\n"
         "The key is refused (401 revoked_key) from the next request on. The record stays\n"
         "for audit; \"delete\" removes it.\n\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print the key as one JSON object\n",
         revoke},
        {"delete", "remove a key's record and rate-limit state",
         "usage: apikeyctl delete ID [--reason TEXT]\n\n"
         "Afterwards the key is unknown (401 invalid_key).\n\n"
         "  --reason TEXT          recorded in the audit stream\n",
         remove},
        {"rotate", "give a key a new token; the old one stops at once or after a grace",
         "usage: apikeyctl rotate ID [--grace DURATION] [--reason TEXT] [--json]\n\n"
         "Same id, name, scopes, limits and expiry; a new secret, shown once, working at\n"
         "once. Rate limits are shared by both tokens. Revoked and imported keys cannot\n"
         "be rotated.\n\n"
         "  --grace DURATION       how long the previous token keeps working, e.g. 1h, so\n"
         "                         an integration can roll over without an outage;\n"
         "                         default 0: it stops at once\n"
         "  --reason TEXT          recorded in the audit stream\n"
         "  --json                 print one JSON object with the new token\n",
         rotate},
        {"audit", "show the audit stream of changes",
         "usage: apikeyctl audit [ID] [--limit N] [--json]\n\n"
         "Every create, import, update, extend, rotate, revoke and delete, newest first\n"
         "(only those of key ID when given): time, key, action, the OS user who ran\n"
         "apikeyctl (sudo's caller under sudo), and the --reason given. Kept in the Redis\n"
         "stream <prefix>audit, capped at about 100000 events.\n\n"
         "  --limit N              show at most N events (default 100)\n"
         "  --json                 print a JSON array of events\n",
         audit},
    };
    return table;
}

}  // namespace apikey::cli
