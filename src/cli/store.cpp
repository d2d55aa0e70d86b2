#include "store.hpp"

#include <algorithm>
#include <map>
#include <sys/time.h>

#include "keyspace.hpp"
#include "number.hpp"

namespace apikey::cli {

namespace {

redisContext* connect(const std::string& address) {
    timeval timeout{2, 0};
    if (address.rfind("unix:", 0) == 0) {
        return redisConnectUnixWithTimeout(address.substr(5).c_str(), timeout);
    }

    std::string host = address;
    int port = 6379;
    std::size_t colon = address.rfind(':');
    if (!address.empty() && address.front() == '[') {   // [::1]:6379
        std::size_t close = address.find(']');
        if (close == std::string::npos) throw Failure("invalid Redis address \"" + address + "\"");
        host = address.substr(1, close - 1);
        colon = address.find(':', close);
    } else if (colon != std::string::npos) {
        host = address.substr(0, colon);
    }
    if (colon != std::string::npos) {
        auto p = parse_decimal(address.substr(colon + 1));
        if (!p || *p < 1 || *p > 65535) {
            throw Failure("invalid Redis address \"" + address + "\"");
        }
        port = static_cast<int>(*p);
    }
    if (host.empty()) throw Failure("invalid Redis address \"" + address + "\"");
    return redisConnectWithTimeout(host.c_str(), port, timeout);
}

}  // namespace

Store::Store(const StoreOptions& options) : options_(options), ctx_(nullptr, redisFree) {
    ctx_.reset(connect(options.address));
    if (!ctx_) {
        throw Failure("cannot allocate a Redis connection");
    }
    if (ctx_->err) {
        throw Failure("cannot connect to Redis at " + options.address + ": " + ctx_->errstr);
    }
    timeval timeout{5, 0};
    redisSetTimeout(ctx_.get(), timeout);

    if (!options.password.empty()) {
        command({"AUTH", options.password});
    }
    if (options.db != 0) {
        command({"SELECT", std::to_string(options.db)});
    }
}

Store::Reply Store::command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!reply) {
        throw Failure("Redis at " + options_.address + ": " + ctx_->errstr);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        // the AUTH argument is never echoed: Redis's message does not contain it
        throw Failure("Redis refused " + args[0] + ": " + std::string(reply->str, reply->len));
    }
    return reply;
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

void Store::put(const KeyRecord& record) {
    std::vector<std::string> args{"HSET", record_key(options_.prefix, record.id)};
    for (auto& [field, value] : record_fields(record)) {
        args.push_back(field);
        args.push_back(value);
    }
    command(args);
}

std::vector<std::string> Store::scan(const std::string& pattern) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
        Reply reply = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
            throw Failure("unexpected reply to SCAN");
        }
        cursor.assign(reply->element[0]->str, reply->element[0]->len);
        redisReply* batch = reply->element[1];
        for (std::size_t i = 0; i < batch->elements; i++) {
            keys.emplace_back(batch->element[i]->str, batch->element[i]->len);
        }
    } while (cursor != "0");
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

void Store::remove(const std::string& id) {
    std::vector<std::string> args{"DEL", record_key(options_.prefix, id)};
    for (auto& key : scan(bucket_pattern(options_.prefix, id))) {
        args.push_back(key);
    }
    command(args);
}

}  // namespace apikey::cli

namespace apikey::cli {

void Store::invalidate(const std::string& id) {
    command({"PUBLISH", options_.prefix + "invalidate", id});
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
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) break;
        for (std::size_t i = 0; i < reply->elements && events.size() < limit; i++) {
            redisReply* entry = reply->element[i];
            if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
            AuditEvent e;
            e.stream_id.assign(entry->element[0]->str, entry->element[0]->len);
            redisReply* fields = entry->element[1];
            for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
                std::string name(fields->element[f]->str, fields->element[f]->len);
                std::string value(fields->element[f + 1]->str, fields->element[f + 1]->len);
                if (name == "time") e.time = parse_decimal(value).value_or(0);
                else if (name == "key") e.key_id = value;
                else if (name == "action") e.action = value;
                else if (name == "user") e.user = value;
                else if (name == "reason") e.reason = value;
                else if (name == "via") e.via = value;
            }
            if (key_id.empty() || e.key_id == key_id) events.push_back(std::move(e));
        }
        if (reply->elements < 1000) break;
        // continue before the oldest entry seen ("(" makes the bound exclusive)
        redisReply* last = reply->element[reply->elements - 1];
        end = "(" + std::string(last->element[0]->str, last->element[0]->len);
    }
    return events;
}

}  // namespace apikey::cli
