// The CLI's view of Redis: key records in and out, over a blocking hiredis
// connection (fine for a command-line tool; the module never blocks).
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "admin.hpp"
#include "record.hpp"

namespace apikey::cli {

// Anything that should end the command with a message and exit status 1.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct StoreOptions {
    std::string address = "127.0.0.1:6379";   // host:port, [v6]:port or unix:/path
    std::string password;
    int db = 0;
    std::string prefix = "apikey:";
    std::string hash_secret;   // the same pepper as apikey_hash_secret, or empty
};

class Store {
public:
    explicit Store(const StoreOptions& options);

    bool exists(const std::string& id);
    std::optional<KeyRecord> get(const std::string& id);
    void put(const KeyRecord& record);          // writes every field
    std::vector<KeyRecord> all();               // every record, sorted by creation
    void remove(const std::string& id);         // record and bucket state

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

    Reply command(const std::vector<std::string>& args);
    std::vector<std::string> scan(const std::string& pattern);

    StoreOptions options_;
    std::unique_ptr<redisContext, void (*)(redisContext*)> ctx_;
};

}  // namespace apikey::cli
