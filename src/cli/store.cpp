#include "store.hpp"

#include <algorithm>
#include <map>
#include <sys/time.h>
#include <unistd.h>

#include "admin_script.hpp"
#include "invalidation.hpp"
#include "args.hpp"
#include "keyspace.hpp"
#include "number.hpp"
#include "topology.hpp"
#include "topology_reply.hpp"

namespace apikey::cli {

namespace {

std::string node_name(const std::string& host, long long port) {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

// "sentinel=h:p,h:p master=NAME": asks each sentinel in turn for the master
// (after AUTH with the sentinels' own password, when there is one).
std::string master_from_sentinels(const std::string& address, const std::string& password,
                                  const TlsOptions& tls) {
    std::size_t space = address.find(' ');
    std::string list = address.substr(9, space == std::string::npos ? std::string::npos : space - 9);
    std::string rest = space == std::string::npos ? "" : address.substr(space + 1);
    while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    if (rest.rfind("master=", 0) != 0 || rest.size() == 7) {
        throw UsageError("a sentinel address needs master=NAME: \"sentinel=H:P,H:P master=NAME\"");
    }
    std::string master = rest.substr(7);
    auto sentinels = parse_seed_list(list, 26379);
    if (!sentinels) throw UsageError("invalid sentinel list \"" + list + "\"");

    std::string errors;
    for (const auto& s : *sentinels) {
        std::unique_ptr<Connection> ctx;
        try {
            ctx = std::make_unique<Connection>(node_name(s.host, s.port), tls, 2);
        } catch (const Failure& e) {
            errors += std::string(" ") + e.what() + ";";
            continue;
        }
        if (!password.empty()) {
            auto* a = ctx->command({"AUTH", password});
            std::string refused = a && a->type == REDIS_REPLY_ERROR ? std::string(a->str, a->len)
                                : a ? "" : "no answer";
            if (a) freeReplyObject(a);
            if (!refused.empty()) {
                errors += " " + node_name(s.host, s.port) + ": refused the sentinel password (" +
                          refused + ");";
                continue;
            }
        }
        auto* r = ctx->command({"SENTINEL", "get-master-addr-by-name", master});
        auto found = decode_master_address(r);
        std::string refused = r && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "";
        if (r) freeReplyObject(r);
        if (found) return node_name(found->host, found->port);
        errors += " " + node_name(s.host, s.port) +
                  (refused.empty() ? ": does not know master \"" + master + "\";"
                                   : ": " + refused + " (APIKEY_SENTINEL_PASSWORD?);");
    }
    throw Failure("no sentinel could name the master \"" + master + "\":" + errors);
}

}  // namespace

Store::Store(const StoreOptions& options) : options_(options) {
    const std::string& a = options.address;
    if (a.rfind("sentinel=", 0) == 0) {
        default_node_ = master_from_sentinels(a, options.sentinel_password, options.tls);
    } else if (a.rfind("cluster=", 0) == 0) {
        auto seeds = parse_seed_list(a.substr(8), 6379);
        if (!seeds) throw UsageError("invalid cluster seed list \"" + a.substr(8) + "\"");
        if (options.db != 0) throw UsageError("Redis Cluster has only database 0");
        cluster_ = true;
        std::string errors;
        for (const auto& s : *seeds) {
            try {
                default_node_ = node_name(s.host, s.port);
                load_slots();
                errors.clear();
                break;
            } catch (const Failure& e) {
                errors += std::string(" ") + e.what() + ";";
            }
        }
        if (!errors.empty()) throw Failure("no cluster node answered:" + errors);
    } else {
        default_node_ = a;
    }
    node(default_node_);
}

Connection* Store::node(const std::string& address) {
    auto it = nodes_.find(address);
    if (it != nodes_.end()) return it->second.get();

    Context ctx = std::make_unique<Connection>(address, options_.tls, 2);
    Connection* raw = ctx.get();
    nodes_.emplace(address, std::move(ctx));

    if (!options_.user.empty()) {
        run(raw, address, {"AUTH", options_.user, options_.password});
    } else if (!options_.password.empty()) {
        run(raw, address, {"AUTH", options_.password});
    }
    if (options_.db != 0) run(raw, address, {"SELECT", std::to_string(options_.db)});
    return raw;
}

// CLUSTER SLOTS: which master serves which slots.
void Store::load_slots() {
    Reply reply = run(node(default_node_), default_node_, {"CLUSTER", "SLOTS"});
    std::vector<SlotRange> ranges;
    std::string error;
    auto queried = parse_host_port(default_node_);
    if (!decode_cluster_slots(reply.get(), queried ? queried->host : "", ranges, error)) {
        throw Failure("Redis at " + default_node_ + ": " + error);
    }
    slot_owner_.assign(kClusterSlots, std::string());
    for (const auto& range : ranges) {
        std::string owner = node_name(range.master.host, range.master.port);
        for (int slot = range.first; slot <= range.last; slot++) {
            slot_owner_[static_cast<std::size_t>(slot)] = owner;
        }
    }
}

Store::Reply Store::run(Connection* ctx, const std::string& where,
                        const std::vector<std::string>& args, bool allow_redirect_error) {
    Reply reply(ctx->command(args));
    if (!reply) {
        throw Failure("Redis at " + where + ": " + ctx->error());
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        std::string_view text(reply->str, reply->len);
        if (allow_redirect_error && (text.rfind("MOVED ", 0) == 0 || text.rfind("ASK ", 0) == 0
                                     || text.rfind("TRYAGAIN", 0) == 0)) {
            return reply;
        }
        // the AUTH argument is never echoed: Redis's message does not contain it
        throw Failure("Redis refused " + args[0] + ": " + std::string(text));
    }
    return reply;
}

Store::Reply Store::command(const std::vector<std::string>& args, int key) {
    if (!cluster_ || key < 0) {
        return run(node(default_node_), default_node_, args);
    }

    // a slot being migrated refuses a multi-key command while its keys are
    // split between the two nodes (-TRYAGAIN): wait for the migration, a while
    for (int attempt = 0;; attempt++) {
        std::string owner = slot_owner_[static_cast<std::size_t>(key_slot(args[key]))];
        if (owner.empty()) owner = default_node_;
        Reply reply = run(node(owner), owner, args, true);
        if (reply->type != REDIS_REPLY_ERROR) return reply;

        std::string_view text(reply->str, reply->len);
        if (text.rfind("TRYAGAIN", 0) == 0 && attempt < 40) {
            usleep(50000);
            continue;
        }

        // MOVED slot host:port (the map changed) or ASK slot host:port (a
        // slot being migrated): follow it once
        auto redirect = parse_redirect(text);
        if (!redirect) throw Failure("Redis refused " + args[0] + ": " + std::string(text));
        std::string host = redirect->to.host;
        if (host.empty()) {   // ":port": the node that answered
            auto asked = parse_host_port(owner);
            if (asked) host = asked->host;
        }
        std::string target = node_name(host, redirect->to.port);
        if (!redirect->ask) load_slots();
        Connection* ctx = node(target);
        if (redirect->ask) run(ctx, target, {"ASKING"});
        reply = run(ctx, target, args, true);
        if (reply->type != REDIS_REPLY_ERROR) return reply;
        if (std::string_view(reply->str, reply->len).rfind("TRYAGAIN", 0) != 0 || attempt >= 40) {
            throw Failure("Redis refused " + args[0] + ": " + std::string(reply->str, reply->len));
        }
        usleep(50000);
    }
}

bool Store::exists(const std::string& id) {
    return command({"EXISTS", record_key(options_.prefix, id)})->integer > 0;
}

std::optional<KeyRecord> Store::get(const std::string& id) {
    Reply reply = command({"HGETALL", record_key(options_.prefix, id)});
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return std::nullopt;
    }
    std::map<std::string, std::string> fields;
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
        fields[std::string(reply->element[i]->str, reply->element[i]->len)] =
            std::string(reply->element[i + 1]->str, reply->element[i + 1]->len);
    }
    KeyRecord record;
    std::string error;
    if (!decode_record(id, fields, record, error)) {
        throw Failure("the record of key " + id + " is damaged: " + error);
    }
    return record;
}

// SCAN on every master of a cluster (each holds its own slots), or the one node.
std::vector<std::string> Store::scan(const std::string& pattern) {
    std::vector<std::string> masters;
    if (cluster_) {
        for (const auto& owner : slot_owner_) {
            if (!owner.empty() && std::find(masters.begin(), masters.end(), owner) == masters.end()) {
                masters.push_back(owner);
            }
        }
    } else {
        masters.push_back(default_node_);
    }

    std::vector<std::string> keys;
    for (const auto& master : masters) {
        std::string cursor = "0";
        do {
            Reply reply = run(node(master), master,
                              {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
                throw Failure("unexpected reply to SCAN");
            }
            cursor.assign(reply->element[0]->str, reply->element[0]->len);
            redisReply* batch = reply->element[1];
            for (std::size_t i = 0; i < batch->elements; i++) {
                keys.emplace_back(batch->element[i]->str, batch->element[i]->len);
            }
        } while (cursor != "0");
    }
    return keys;
}

std::vector<KeyRecord> Store::all() {
    std::vector<KeyRecord> records;
    for (const auto& key : scan(record_pattern(options_.prefix))) {
        std::string_view id = id_of_record_key(options_.prefix, key);
        if (id.empty()) continue;
        if (auto record = get(std::string(id))) {
            records.push_back(std::move(*record));
        }
    }
    std::sort(records.begin(), records.end(), [](const KeyRecord& a, const KeyRecord& b) {
        return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    return records;
}

Store::Reply Store::script(const std::string& key, const std::string& mode, const AuditEvent& e,
                           const std::string& subject, const std::vector<std::string>& extra) {
    // EVAL rather than EVALSHA: a command-line tool sends it once, and a
    // Redis that restarted or was flushed needs no NOSCRIPT retry
    std::vector<std::string> args{"EVAL", std::string(kAdminScript), cluster_ ? "1" : "2", key};
    if (!cluster_) args.push_back(options_.prefix + "audit");
    args.insert(args.end(), {mode, std::to_string(e.time), e.action, e.user, e.reason, e.via,
                             options_.prefix + "invalidate", subject});
    args.insert(args.end(), extra.begin(), extra.end());
    return command(args, 3);   // args[3]: KEYS[1] names the slot
}

AdminReply Store::change(const std::string& mode, const AuditEvent& e,
                         const std::vector<std::string>& extra) {
    std::optional<IndexView> before;
    if (cluster_) before = index_view(e.key_id);
    std::vector<std::string> fields = extra;
    if (cluster_ && (mode == "create" || mode == "update")) {
        // the script cannot read a role or plan in another slot: the copy
        // is taken here, just before (a role changed in between is caught
        // up by its next update)
        for (std::size_t i = 0; i + 1 < extra.size(); i += 2) {
            if ((extra[i] == "role" || extra[i] == "plan") && !extra[i + 1].empty()) {
                bool role = extra[i] == "role";
                Reply copy = command({"HGET", options_.prefix + extra[i] + ":" + extra[i + 1],
                                      role ? "scopes" : "limits"});
                if (copy->type != REDIS_REPLY_STRING) {
                    AdminReply missing;
                    missing.status = AdminReply::Status::kConflict;
                    missing.message = "no " + extra[i] + " \"" + extra[i + 1] + "\"";
                    return missing;
                }
                fields.insert(fields.end(), {role ? "role_scopes" : "plan_limits",
                                             std::string(copy->str, copy->len)});
                if (!role) {
                    // and the plan's quota, as plan_quota ("" when it has none)
                    Reply quota = command({"HGET", options_.prefix + "plan:" + extra[i + 1], "quota"});
                    fields.insert(fields.end(),
                                  {"plan_quota", quota->type == REDIS_REPLY_STRING
                                                     ? std::string(quota->str, quota->len) : ""});
                }
            } else if (extra[i] == "role" || extra[i] == "plan") {
                fields.insert(fields.end(),
                              {extra[i] == "role" ? "role_scopes" : "plan_limits", ""});
                if (extra[i] == "plan") fields.insert(fields.end(), {"plan_quota", ""});
            }
        }
    }
    Reply reply = script(record_key(options_.prefix, e.key_id), mode, e, e.key_id, fields);
    AdminReply out = decode_admin_record(reply.get(), e.key_id);
    if (out.status == AdminReply::Status::kError) {
        throw Failure("unexpected answer from Redis to " + e.action + " of key " + e.key_id + ": " +
                      out.message);
    }
    if (cluster_ && out.status == AdminReply::Status::kOk) {
        audit(e);   // the script published the invalidation (PUBLISH reaches every node)
        index_after(e.key_id, before, index_view(e.key_id));
    }
    return out;
}

std::optional<Store::IndexView> Store::index_view(const std::string& id) {
    Reply r = command({"HMGET", record_key(options_.prefix, id), "name", "owner", "role", "plan",
                       "created", "expires", "last_used"});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 7) return std::nullopt;
    auto at = [&](std::size_t i) {
        const redisReply* e = r->element[i];
        return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : std::string();
    };
    // every field may be absent from a record (created included): ask
    if (r->element[4]->type != REDIS_REPLY_STRING && !exists(id)) return std::nullopt;
    return IndexView{at(0), at(1), at(2), at(3), at(4), at(5), at(6)};
}

// What the admin script's reindex() does on a single Redis, as separate
// commands (each index and set lives in its own slot).
void Store::index_after(const std::string& id, const std::optional<IndexView>& before,
                        const std::optional<IndexView>& after) {
    const std::string& p = options_.prefix;
    auto member = [&](const std::string& name) { return lower_ascii(name) + std::string(1, '\0') + id; };
    if (before) {
        if (!after || after->name != before->name) {
            command({"ZREM", p + "idx:name", member(before->name)});
        }
        const std::pair<const char*, std::string IndexView::*> sets[] = {
            {"owner", &IndexView::owner}, {"role", &IndexView::role}, {"plan", &IndexView::plan}};
        for (const auto& [kind, field] : sets) {
            const std::string& old = (*before).*field;
            if (!old.empty() && (!after || (*after).*field != old)) {
                command({"SREM", p + kind + "_keys:" + old, id});
            }
        }
        if (!after) {
            for (const char* index : {"created", "expires", "last_used"}) {
                command({"ZREM", p + "idx:" + index, id});
            }
        }
    }
    if (after) {
        auto score = [](const std::string& s) { return s.empty() ? std::string("0") : s; };
        command({"ZADD", p + "idx:created", score(after->created), id});
        command({"ZADD", p + "idx:expires",
                 score(after->expires) == "0" ? std::string("inf") : after->expires, id});
        command({"ZADD", p + "idx:last_used", score(after->last_used), id});
        command({"ZADD", p + "idx:name", "0", member(after->name)});
        if (!after->owner.empty()) command({"SADD", p + "owner_keys:" + after->owner, id});
        if (!after->role.empty()) command({"SADD", p + "role_keys:" + after->role, id});
        if (!after->plan.empty()) command({"SADD", p + "plan_keys:" + after->plan, id});
    }
}

namespace {

AdminReply status_of(AdminReply::Status status, std::string message = {}) {
    AdminReply r;
    r.status = status;
    r.message = std::move(message);
    return r;
}

}  // namespace

AdminReply Store::group_change(const std::string& kind, const std::string& action,
                               const AuditEvent& event, const std::string& name,
                               const GroupChanges& changes, std::int64_t now, Group& out,
                               std::vector<std::string>& changed) {
    const std::string& p = options_.prefix;
    std::string key = p + kind + ":" + name, set = p + kind + "_keys:" + name;
    out = Group{};
    out.name = name;
    if (!cluster_) {
        Reply reply = script(key, kind + "_" + action, event, name, group_arguments(changes, now));
        AdminReply r = decode_admin_group(reply.get(), kind, out, changed);
        out.name = name;
        return r;
    }

    const char* item = kind == "role" ? "scopes" : "limits";
    auto read = [&]() {
        Reply h = command({"HGETALL", key});
        for (std::size_t i = 0; i + 1 < h->elements; i += 2) {
            std::string f(h->element[i]->str, h->element[i]->len);
            std::string v(h->element[i + 1]->str, h->element[i + 1]->len);
            if (f == item) out.value = v;
            else if (f == "description") out.description = v;
            else if (kind == "plan" && f == "quota") out.quota = v;
            else if (f == "created") out.created = parse_decimal(v).value_or(0);
            else if (f == "updated") out.updated = parse_decimal(v).value_or(0);
        }
        out.keys = command({"SCARD", set})->integer;
        return h->elements > 0;
    };
    bool exists = command({"EXISTS", key})->integer > 0;
    if (action == "get") {
        return exists && read() ? status_of(AdminReply::Status::kOk)
                                : status_of(AdminReply::Status::kNotFound);
    }
    if (action == "create") {
        if (exists) return status_of(AdminReply::Status::kExists);
        command({"HSET", key, item, changes.value.value_or(""), "description",
                 changes.description.value_or(""), "created", std::to_string(now), "updated",
                 std::to_string(now)});
        if (changes.quota && !changes.quota->empty()) command({"HSET", key, "quota", *changes.quota});
        command({"SADD", p + kind + "s", name});
    } else if (!exists) {
        return status_of(AdminReply::Status::kNotFound);
    } else if (action == "delete") {
        long long n = command({"SCARD", set})->integer;
        if (n > 0) {
            return status_of(AdminReply::Status::kConflict,
                             std::to_string(n) + " key(s) use " + kind + " \"" + name + "\"");
        }
        command({"DEL", key});
        command({"SREM", p + kind + "s", name});
        audit(event);
        return status_of(AdminReply::Status::kOk);
    } else if (action == "update") {
        command({"HSET", key, "updated", std::to_string(now)});
        if (changes.value) command({"HSET", key, item, *changes.value});
        if (changes.description) command({"HSET", key, "description", *changes.description});
        if (changes.quota) {
            if (changes.quota->empty()) command({"HDEL", key, "quota"});
            else command({"HSET", key, "quota", *changes.quota});
        }
        if (changes.value || changes.quota) {
            // the recopy mode's arguments: the limits or scopes copy when
            // it changed, the plan's quota when it changed
            std::vector<std::string> recopy{kind, name, changes.value.value_or(""),
                                            changes.value ? "1" : "0",
                                            changes.quota ? "1" : "0", changes.quota.value_or("")};
            for (const auto& id : members(set)) {
                AuditEvent quiet = event;
                quiet.key_id = id;
                Reply r = script(record_key(p, id), "recopy", quiet, id, recopy);
                AdminReply one = decode_admin_record(r.get(), id);
                if (one.status == AdminReply::Status::kOk) {
                    changed.push_back(id);
                } else if (one.status != AdminReply::Status::kError) {
                    command({"SREM", set, id});   // gone, or of another role now
                }
            }
        }
    }
    audit(event);
    read();
    return status_of(AdminReply::Status::kOk);
}

std::vector<Group> Store::groups(const std::string& kind) {
    std::vector<Group> out;
    if (!cluster_) {
        Reply reply = script(options_.prefix + kind + "s", kind + "_list", AuditEvent{}, "", {});
        std::string error;
        if (!decode_admin_groups(reply.get(), kind, out, error)) throw Failure(error);
        return out;
    }
    for (const auto& name : members(options_.prefix + kind + "s")) {
        Group g;
        std::vector<std::string> ignored;
        if (group_change(kind, "get", AuditEvent{}, name, GroupChanges{}, 0, g, ignored).status ==
            AdminReply::Status::kOk) {
            out.push_back(std::move(g));
        }
    }
    return out;
}

std::vector<std::string> Store::members(const std::string& set) {
    Reply r = command({"SMEMBERS", set});
    std::vector<std::string> out;
    for (std::size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        out.emplace_back(r->element[i]->str, r->element[i]->len);
    }
    std::sort(out.begin(), out.end());
    return out;
}

AdminPage Store::page(const ListQuery& query, std::size_t size, bool& needs_reindex) {
    needs_reindex = false;
    AdminPage out;
    if (cluster_) {
        // every record, ordered and cut as the script would
        std::vector<KeyRecord> records = all();
        std::int64_t now = static_cast<std::int64_t>(time(nullptr));
        sort_for_page(records, query);
        for (auto& r : records) {
            if (!follows_cursor(r, query) || !list_matches(r, query, now)) continue;
            if (out.records.size() == size) break;
            out.records.push_back(std::move(r));
        }
        if (out.records.size() == size) out.cursor = page_cursor(out.records.back(), query.sort);
        return out;
    }
    AuditEvent none;
    Reply reply = script(options_.prefix + "idx:created", "page", none, "",
                         page_arguments(query, size, static_cast<std::int64_t>(time(nullptr))));
    std::string error;
    if (!decode_admin_page(reply.get(), out, needs_reindex, error)) {
        throw Failure("unexpected answer from Redis to list: " + error);
    }
    return out;
}

std::size_t Store::reindex() {
    std::size_t n = 0;
    if (cluster_) {
        for (const auto& key : scan(record_pattern(options_.prefix))) {
            std::string id(id_of_record_key(options_.prefix, key));
            if (id.empty()) continue;
            if (auto view = index_view(id)) {
                index_after(id, std::nullopt, view);
                n++;
            }
        }
        // stale entries: ids without a record
        Reply created = command({"ZRANGE", options_.prefix + "idx:created", "0", "-1"});
        for (std::size_t i = 0; created->type == REDIS_REPLY_ARRAY && i < created->elements; i++) {
            std::string id(created->element[i]->str, created->element[i]->len);
            if (!exists(id)) index_after(id, IndexView{}, std::nullopt);
        }
        return n;
    }
    AuditEvent none;
    std::string cursor = "0";
    do {
        Reply r = script(options_.prefix + "idx:created", "reindex", none, "", {cursor});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw Failure("unexpected reply to reindex");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        n += static_cast<std::size_t>(r->element[1]->integer);
    } while (cursor != "0");
    for (const char* index : {"created", "expires", "last_used", "name"}) {
        cursor = "0";
        do {
            Reply r = script(options_.prefix + "idx:created", "prune", none, "", {index, cursor});
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw Failure("unexpected reply to reindex");
            cursor.assign(r->element[0]->str, r->element[0]->len);
        } while (cursor != "0");
    }
    return n;
}

std::vector<std::string> Store::bucket_keys(const std::string& id) {
    return scan(bucket_pattern(options_.prefix, id));
}

std::vector<UsageDay> Store::usage(const std::string& id, const std::vector<std::uint32_t>& days) {
    std::vector<UsageDay> out;
    for (std::uint32_t day : days) {
        UsageDay d;
        d.day = day;
        Reply reply = command({"HGETALL", usage_redis_key(options_.prefix, id, day)});
        if (reply->type == REDIS_REPLY_ARRAY) {
            std::vector<std::string_view> flat;
            for (std::size_t i = 0; i < reply->elements; i++) {
                const redisReply* e = reply->element[i];
                flat.emplace_back(e->type == REDIS_REPLY_STRING ? std::string_view(e->str, e->len)
                                                                : std::string_view());
            }
            add_usage_fields(d, flat);
        }
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace apikey::cli

namespace apikey::cli {

void Store::invalidate(const std::string& id) {
    // a cluster delivers a PUBLISH to the subscribers of every node
    command({"PUBLISH", options_.prefix + "invalidate", id}, -1);
}

std::vector<std::string> Store::live_workers() {
    std::string key = workers_key(options_.prefix);
    Reply reply = command({"EVAL", kLiveWorkersScript, "1", key}, 3);
    std::vector<std::string> out;
    if (reply->type != REDIS_REPLY_ARRAY) throw Failure("unexpected answer from Redis to " + key);
    for (std::size_t i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            out.emplace_back(reply->element[i]->str, reply->element[i]->len);
        }
    }
    return out;
}

void Store::invalidate_event(const std::string& id, const std::string& event) {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    std::int64_t now_us = static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
    command({"PUBLISH", options_.prefix + "invalidate", invalidation_message(id, event, now_us)},
            -1);
}

std::vector<std::string> Store::acks(const std::string& event) {
    return members(ack_key(options_.prefix, event));
}

void Store::audit(const AuditEvent& e) {
    command({"XADD", options_.prefix + "audit", "MAXLEN", "~", std::to_string(kAuditLength), "*",
             "time", std::to_string(e.time), "key", e.key_id, "action", e.action, "user", e.user,
             "reason", e.reason, "via", e.via});
}

std::vector<AuditEvent> Store::audit_log(const std::string& key_id, std::size_t limit) {
    std::vector<AuditEvent> events;
    std::string end = "+";
    // read newest first in pages, filtering by key, until enough or no more
    while (events.size() < limit) {
        Reply reply = command({"XREVRANGE", options_.prefix + "audit", end, "-", "COUNT", "1000"});
        std::vector<AuditEvent> page;
        std::string error;
        if (!decode_admin_audit(reply.get(), page, error)) throw Failure(error);
        for (auto& e : page) {
            if (events.size() < limit && (key_id.empty() || e.key_id == key_id)) {
                events.push_back(std::move(e));
            }
        }
        if (page.size() < 1000) break;
        // continue before the oldest entry seen ("(" makes the bound exclusive)
        end = "(" + page.back().stream_id;
    }
    return events;
}

}  // namespace apikey::cli
