#include "keyspace.hpp"

#include "token.hpp"

namespace apikey {

std::size_t KeyName::size() const noexcept {
    std::size_t n = 0;
    for (auto p : parts) n += p.size();
    return n;
}

std::string KeyName::str() const {
    std::string key;
    key.reserve(size());
    for (auto p : parts) key.append(p);
    return key;
}

KeyName record_key_name(std::string_view prefix, std::string_view id) noexcept {
    return KeyName{{prefix, "key:{", id, "}", {}}};
}

KeyName bucket_key_name(std::string_view prefix, std::string_view id,
                        std::string_view bucket) noexcept {
    return KeyName{{prefix, "bucket:{", id, "}:", bucket}};
}

KeyName quota_key_name(std::string_view prefix, std::string_view id) noexcept {
    return KeyName{{prefix, "quota:{", id, "}", {}}};
}

std::string record_key(std::string_view prefix, std::string_view id) {
    return record_key_name(prefix, id).str();
}

std::string bucket_key(std::string_view prefix, std::string_view id, std::string_view bucket) {
    return bucket_key_name(prefix, id, bucket).str();
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
    return quota_key_name(prefix, id).str();
}

std::string
owner_quota_redis_key(std::string_view prefix, std::string_view owner)
{
    return std::string(prefix) + "owner_quota:" + std::string(owner);
}

}  // namespace apikey
