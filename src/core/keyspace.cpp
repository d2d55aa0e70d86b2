#include "keyspace.hpp"

#include "token.hpp"

namespace apikey {

std::string record_key(std::string_view prefix, std::string_view id) {
    std::string key;
    key.reserve(prefix.size() + id.size() + 6);
    key.append(prefix).append("key:{").append(id).append("}");
    return key;
}

std::string bucket_key(std::string_view prefix, std::string_view id, std::string_view bucket) {
    std::string key;
    key.reserve(prefix.size() + id.size() + bucket.size() + 11);
    key.append(prefix).append("bucket:{").append(id).append("}:").append(bucket);
    return key;
}

std::string record_pattern(std::string_view prefix) {
    std::string p;
    for (char c : prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') p.push_back('\\');
        p.push_back(c);
    }
    return p + "key:{*}";
}

std::string bucket_pattern(std::string_view prefix, std::string_view id) {
    std::string p;
    for (char c : prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') p.push_back('\\');
        p.push_back(c);
    }
    return p + "bucket:{" + std::string(id) + "}:*";
}

std::string_view id_of_record_key(std::string_view prefix, std::string_view key) noexcept {
    std::string_view head = "key:{";
    if (key.substr(0, prefix.size()) != prefix) return {};
    key.remove_prefix(prefix.size());
    if (key.substr(0, head.size()) != head || key.empty() || key.back() != '}') return {};
    std::string_view id = key.substr(head.size(), key.size() - head.size() - 1);
    return valid_key_id(id) ? id : std::string_view{};
}

bool valid_bucket_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool valid_prefix(std::string_view prefix) noexcept {
    if (prefix.size() > 64) return false;
    for (char c : prefix) {
        if (c <= ' ' || c >= 0x7F || c == '{' || c == '}') return false;
    }
    return true;
}

std::string
quota_redis_key(std::string_view prefix, std::string_view id)
{
    return std::string(prefix) + "quota:{" + std::string(id) + "}";
}

std::string
owner_quota_redis_key(std::string_view prefix, std::string_view owner)
{
    return std::string(prefix) + "owner_quota:" + std::string(owner);
}

}  // namespace apikey
