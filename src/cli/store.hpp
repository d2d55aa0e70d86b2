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
#include "usage.hpp"

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
    // The admin script in any mode, with KEYS[1] = `key` and ARGV[8] = `subject`
    // (a key id, or a role's or plan's name); the raw reply, for the modes
    // whose replies are not a record's.
    struct ReplyDeleter {
        void operator()(redisReply* r) const { freeReplyObject(r); }
    };
    using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
    Reply script(const std::string& key, const std::string& mode, const AuditEvent& event,
                 const std::string& subject, const std::vector<std::string>& extra);

    // One page of the indexed list (the admin script's page mode); on a
    // Cluster, where one script cannot read every slot, every record is read
    // and the page cut here in the same order. needs_reindex: the index is
    // empty but records exist.
    AdminPage page(const ListQuery& query, std::size_t size, bool& needs_reindex);

    // Rebuilds the indexes and the role, plan and owner sets from the
    // records (SCAN), then drops index entries whose record is gone.
    // Returns how many records were indexed.
    std::size_t reindex();

    // Roles and plans (`kind` "role" or "plan"): `action` create, update,
    // delete or get. One script on a single Redis or Sentinel; on a Cluster,
    // where a role, its set and its keys live in different slots, the same
    // steps one command at a time, the keys' copies rewritten key by key
    // (each conditional on the key still having that role) right after the
    // role. `changed`: the ids whose copy was rewritten.
    AdminReply group_change(const std::string& kind, const std::string& action,
                            const AuditEvent& event, const std::string& name,
                            const GroupChanges& changes, std::int64_t now, Group& out,
                            std::vector<std::string>& changed);
    std::vector<Group> groups(const std::string& kind);

    // Members of a set (role_keys, plan_keys, owner_keys).
    std::vector<std::string> members(const std::string& set);

    bool cluster() const { return cluster_; }
    const std::string& prefix() const { return options_.prefix; }

    // The bucket keys of a key (for change("delete", ...)).
    std::vector<std::string> bucket_keys(const std::string& id);

    // A key's usage counts on each of `days` (HGETALL of
    // <prefix>usage:{<id>}:<day>, one command per day).
    std::vector<UsageDay> usage(const std::string& id, const std::vector<std::uint32_t>& days);

    // Tells every nginx with apikey_cache that this key changed
    // (PUBLISH <prefix>invalidate <id>): cached entries go at once.
    void invalidate(const std::string& id);

    // Confirmed invalidation (invalidation.hpp): the workers announced now
    // ("INSTANCE:PID"), the same message with an event id and the time, and
    // the workers that acknowledged an event.
    std::vector<std::string> live_workers();
    void invalidate_event(const std::string& id, const std::string& event);
    std::vector<std::string> acks(const std::string& event);

    // Appends to the audit stream, capped at about kAuditLength events.
    void audit(const AuditEvent& event);
    // Newest first; only those of one key when key_id is not empty.
    std::vector<AuditEvent> audit_log(const std::string& key_id, std::size_t limit);

    static constexpr std::size_t kAuditLength = 100000;

private:
    using Context = std::unique_ptr<Connection>;

    // Runs a command on the node that owns args[key] (a cluster follows one
    // MOVED or ASK redirect); key < 0: any node.
    Reply command(const std::vector<std::string>& args, int key = 1);
    Reply run(Connection* ctx, const std::string& node, const std::vector<std::string>& args,
              bool allow_redirect_error = false);
    Connection* node(const std::string& address);
    void load_slots();
    // Cluster: the indexes and sets of one key after a change (a script
    // cannot reach their slots), from the record before and after.
    struct IndexView {
        std::string name, owner, role, plan, created, expires, last_used;
    };
    std::optional<IndexView> index_view(const std::string& id);
    void index_after(const std::string& id, const std::optional<IndexView>& before,
                     const std::optional<IndexView>& after);
    std::vector<std::string> scan(const std::string& pattern);

    StoreOptions options_;
    std::map<std::string, Context> nodes_;       // "host:port" (or unix:path) -> connection
    std::string default_node_;
    bool cluster_ = false;
    std::vector<std::string> slot_owner_;        // cluster: slot -> "host:port"
};

}  // namespace apikey::cli
