// The CLI's view of Redis: key records in and out, over blocking connections
// (connection.hpp; fine for a command-line tool; the module never blocks).
#pragma once

#include <hiredis/hiredis.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "admin.hpp"
#include "connection.hpp"
#include "admin_script.hpp"
#include "record.hpp"

namespace apikey::cli {

// Anything that should end the command with a message and exit status 1.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct StoreOptions {
    // host:port, [v6]:port, unix:/path, "sentinel=H:P[,H:P...] master=NAME"
    // or "cluster=H:P[,H:P...]" (topology.hpp)
    std::string address = "127.0.0.1:6379";
    std::string user;       // a Redis 6 ACL user: AUTH user password
    std::string password;
    TlsOptions tls;         // for every connection: the server, sentinels, cluster nodes
    std::string sentinel_password;   // the sentinels' own, if they require one
    int db = 0;
    std::string prefix = "apikey:";
    std::string hash_secret;   // the same pepper as apikey_hash_secret, or empty
};

class Store {
public:
    explicit Store(const StoreOptions& options);

    bool exists(const std::string& id);
    std::optional<KeyRecord> get(const std::string& id);
    std::vector<KeyRecord> all();               // every record, sorted by creation

    // One change to a key as one atomic step in Redis: the admin API's script
    // (admin_script.hpp) in `mode` (create, update, extend, rotate, revoke,
    // delete) with its per-mode arguments. The script checks the record
    // (create: that there is none; the others: that there is one) and writes
    // only what the change changes, with the audit event and the invalidation
    // message, so a change made in between by someone else is never undone.
    // On a cluster the event follows the change (the audit stream lives in
    // another slot). `event.action` names the change.
    AdminReply change(const std::string& mode, const AuditEvent& event,
                      const std::vector<std::string>& extra);
    // The bucket keys of a key (for change("delete", ...)).
    std::vector<std::string> bucket_keys(const std::string& id);

    // Tells every nginx with apikey_cache that this key changed
    // (PUBLISH <prefix>invalidate <id>): cached entries go at once.
    void invalidate(const std::string& id);

    // Appends to the audit stream, capped at about kAuditLength events.
    void audit(const AuditEvent& event);
    // Newest first; only those of one key when key_id is not empty.
    std::vector<AuditEvent> audit_log(const std::string& key_id, std::size_t limit);

    static constexpr std::size_t kAuditLength = 100000;

private:
    struct ReplyDeleter {
        void operator()(redisReply* r) const { freeReplyObject(r); }
    };
    using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
    using Context = std::unique_ptr<Connection>;

    // Runs a command on the node that owns args[key] (a cluster follows one
    // MOVED or ASK redirect); key < 0: any node.
    Reply command(const std::vector<std::string>& args, int key = 1);
    Reply run(Connection* ctx, const std::string& node, const std::vector<std::string>& args,
              bool allow_redirect_error = false);
    Connection* node(const std::string& address);
    void load_slots();
    std::vector<std::string> scan(const std::string& pattern);

    StoreOptions options_;
    std::map<std::string, Context> nodes_;       // "host:port" (or unix:path) -> connection
    std::string default_node_;
    bool cluster_ = false;
    std::vector<std::string> slot_owner_;        // cluster: slot -> "host:port"
};

}  // namespace apikey::cli
