#include <gtest/gtest.h>

#include <map>

#include "keyspace.hpp"
#include "record.hpp"

using namespace apikey;

namespace {

std::map<std::string, std::string> fields_of(const KeyRecord& r) {
    std::map<std::string, std::string> m;
    for (auto& [k, v] : record_fields(r)) m[k] = v;
    return m;
}

KeyRecord sample() {
    KeyRecord r;
    r.id = "abcdefghijkl";
    r.digest = std::string(64, 'a');
    r.name = "billing export";
    r.scopes = "read write";
    r.status = "active";
    r.hint = "wxyz";
    r.limits = "600r/m:50";
    r.created = 100;
    r.updated = 100;
    r.expires = 1000;
    return r;
}

}  // namespace

TEST(Record, RoundTrip) {
    KeyRecord in = sample(), out;
    std::string error;
    ASSERT_TRUE(decode_record(in.id, fields_of(in), out, error)) << error;
    EXPECT_EQ(out.name, in.name);
    EXPECT_EQ(out.scopes, in.scopes);
    EXPECT_EQ(out.expires, 1000);
    EXPECT_EQ(out.limits, "600r/m:50");
}

TEST(Record, EffectiveStatus) {
    KeyRecord r = sample();
    EXPECT_EQ(r.effective_status(999), "active");
    EXPECT_EQ(r.effective_status(1000), "expired");
    r.expires = 0;
    EXPECT_EQ(r.effective_status(1 << 30), "active");
    r.status = "revoked";
    EXPECT_EQ(r.effective_status(0), "revoked");
}

TEST(Record, RejectsWhatItCannotTrust) {
    std::string error;
    KeyRecord out;
    auto f = fields_of(sample());
    f["status"] = "paused";
    EXPECT_FALSE(decode_record("abcdefghijkl", f, out, error));
    f = fields_of(sample());
    f["expires"] = "soon";
    EXPECT_FALSE(decode_record("abcdefghijkl", f, out, error));
    f = fields_of(sample());
    f.erase("digest");
    EXPECT_FALSE(decode_record("abcdefghijkl", f, out, error));
    f = fields_of(sample());
    f["limits"] = "lots";
    EXPECT_FALSE(decode_record("abcdefghijkl", f, out, error));
}

TEST(Record, Json) {
    KeyRecord r = sample();
    std::string json = record_json(r, 500, "ak_token");
    EXPECT_NE(json.find("\"token\":\"ak_token\""), std::string::npos);
    EXPECT_NE(json.find("\"scopes\":[\"read\",\"write\"]"), std::string::npos);
    EXPECT_NE(json.find("\"expires_at\":\"1970-01-01T00:16:40Z\""), std::string::npos);
    EXPECT_NE(json.find("\"status\":\"active\""), std::string::npos);
    EXPECT_EQ(record_json(r, 500).find("\"token\""), std::string::npos);
    EXPECT_NE(record_json(r, 500).find("\"previous_token\":null"), std::string::npos);
    r.prev_digest = std::string(64, 'b');
    r.prev_hint = "abcd";
    r.prev_until = 600;
    EXPECT_NE(record_json(r, 500).find(
                  "\"previous_token\":{\"hint\":\"abcd\",\"valid_until\":\"1970-01-01T00:10:00Z\"}"),
              std::string::npos);
    EXPECT_NE(record_json(r, 600).find("\"previous_token\":null"), std::string::npos)
        << "the grace is over at prev_until";
    r.expires = 0;
    EXPECT_NE(record_json(r, 500).find("\"expires_at\":null"), std::string::npos);
}

TEST(Record, Names) {
    EXPECT_TRUE(valid_key_name("CI deploy (prod) \xc3\xa9"));
    EXPECT_FALSE(valid_key_name(""));
    EXPECT_FALSE(valid_key_name("a\nb"));
    EXPECT_FALSE(valid_key_name(std::string(129, 'a')));
}

TEST(Keyspace, Names) {
    EXPECT_EQ(record_key("apikey:", "abcdefghijkl"), "apikey:key:{abcdefghijkl}");
    EXPECT_EQ(bucket_key("apikey:", "abcdefghijkl", "default"),
              "apikey:bucket:{abcdefghijkl}:default");
    EXPECT_EQ(record_pattern("a*b:"), "a\\*b:key:{*}");
    EXPECT_EQ(id_of_record_key("apikey:", "apikey:key:{abcdefghijkl}"), "abcdefghijkl");
    EXPECT_EQ(id_of_record_key("apikey:", "apikey:key:{abc}"), "");
    EXPECT_EQ(id_of_record_key("apikey:", "other:key:{abcdefghijkl}"), "");
    EXPECT_TRUE(valid_bucket_name("export_v2-x"));
    EXPECT_FALSE(valid_bucket_name("a:b"));
    EXPECT_TRUE(valid_prefix("tenant1:apikey:"));
    EXPECT_FALSE(valid_prefix("a{b}"));
    EXPECT_FALSE(valid_prefix("a b"));
}

// Issue 14: the key model's fields, all optional.
TEST(Record, ModelRoundTrip) {
    KeyRecord in = sample(), out;
    in.owner = "acct_42@example.com";
    in.role = "reader";
    in.role_scopes = "read audit";
    in.plan = "gold-2";
    in.plan_limits = "1000r/m:100";
    in.env = "test";
    in.meta = "{\"tenant\":\"t-42\"}";
    in.allow_ip = "203.0.113.0/24 2001:db8::/32";
    in.status = "disabled";
    std::string error;
    ASSERT_TRUE(decode_record(in.id, fields_of(in), out, error)) << error;
    EXPECT_EQ(out.owner, in.owner);
    EXPECT_EQ(out.role, "reader");
    EXPECT_EQ(out.role_scopes, "read audit");
    EXPECT_EQ(out.plan, "gold-2");
    EXPECT_EQ(out.plan_limits, "1000r/m:100");
    EXPECT_EQ(out.env, "test");
    EXPECT_EQ(out.meta, in.meta);
    EXPECT_EQ(out.allow_ip, in.allow_ip);
    EXPECT_EQ(out.effective_status(0), "disabled");
    EXPECT_EQ(out.effective_status(5000), "disabled") << "disabled before expired";
    EXPECT_EQ(out.effective_scopes(), "read write audit");
    EXPECT_EQ(out.effective_limits(), "600r/m:50") << "own limits first";
    out.limits.clear();
    EXPECT_EQ(out.effective_limits(), "1000r/m:100") << "else the plan's";
    EXPECT_EQ(out.effective_env(), "test");

    std::string json = record_json(in, 0);
    EXPECT_NE(json.find("\"owner\":\"acct_42@example.com\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"env\":\"test\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"meta\":{\"tenant\":\"t-42\"}"), std::string::npos) << json;
    EXPECT_NE(json.find("\"allow_ip\":[\"203.0.113.0/24\",\"2001:db8::/32\"]"), std::string::npos)
        << json;
    EXPECT_NE(json.find("\"status\":\"disabled\""), std::string::npos) << json;
}

// A record of before issue 14 (v1) decodes, and writes no model field back.
TEST(Record, V1RecordHasNoModel) {
    KeyRecord in = sample(), out;
    auto f = fields_of(in);
    for (const char* field : {"owner", "role", "role_scopes", "plan", "plan_limits", "env", "meta",
                              "allow_ip"}) {
        EXPECT_EQ(f.count(field), 0u) << field;
    }
    std::string error;
    ASSERT_TRUE(decode_record(in.id, f, out, error)) << error;
    EXPECT_EQ(out.effective_env(), "live");
    EXPECT_EQ(out.effective_scopes(), "read write");
    std::string json = record_json(out, 0);
    EXPECT_NE(json.find("\"owner\":null"), std::string::npos) << json;
    EXPECT_NE(json.find("\"env\":\"live\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"meta\":{}"), std::string::npos) << json;
    EXPECT_NE(json.find("\"allow_ip\":[]"), std::string::npos) << json;
}

TEST(Record, RejectsABadModel) {
    auto bad = [](const char* field, const char* value) {
        auto f = fields_of(sample());
        f[field] = value;
        KeyRecord out;
        std::string error;
        return !decode_record("abcdefghijkl", f, out, error);
    };
    EXPECT_TRUE(bad("owner", "has space"));
    EXPECT_TRUE(bad("owner", std::string(129, 'a').c_str()));
    EXPECT_FALSE(bad("owner", std::string(128, 'a').c_str()));
    EXPECT_TRUE(bad("role", "Reader"));
    EXPECT_TRUE(bad("role", "-reader"));
    EXPECT_TRUE(bad("plan", std::string(65, 'a').c_str()));
    EXPECT_FALSE(bad("plan", std::string(64, 'a').c_str()));
    EXPECT_TRUE(bad("role_scopes", "bad\"scope"));
    EXPECT_TRUE(bad("plan_limits", "lots"));
    EXPECT_TRUE(bad("env", "prod"));
    EXPECT_TRUE(bad("meta", "{\"Tenant\":\"x\"}"));
    EXPECT_TRUE(bad("meta", "not json"));
    EXPECT_TRUE(bad("allow_ip", "10.0.0.1/8"));       // not canonical
    EXPECT_TRUE(bad("allow_ip", "10.0.0.0/8,11.0.0.0/8"));
    EXPECT_FALSE(bad("allow_ip", "10.0.0.0/8 11.0.0.0/8"));
    EXPECT_FALSE(bad("status", "disabled"));
}

// leaked_at and leak_url are written by the leak script only (never by
// record_fields), and shown only on a key a leaked-key report named
TEST(Record, Leaked) {
    KeyRecord out;
    std::string error;
    auto f = fields_of(sample());
    EXPECT_EQ(f.count("leaked_at"), 0u);
    ASSERT_TRUE(decode_record("abcdefghijkl", f, out, error)) << error;
    EXPECT_EQ(out.leaked_at, 0);
    EXPECT_EQ(record_json(out, 500).find("leak"), std::string::npos);

    f["leaked_at"] = "1764547200";
    f["leak_url"] = "https://github.com/o/r/blob/c/f.env";
    ASSERT_TRUE(decode_record("abcdefghijkl", f, out, error)) << error;
    EXPECT_EQ(out.leaked_at, 1764547200);
    std::string json = record_json(out, 500);
    EXPECT_NE(json.find(R"("leaked_at":"2025-12-01T00:00:00Z","leak_url":"https://github.com/o/r/blob/c/f.env")"),
              std::string::npos) << json;
    EXPECT_EQ(fields_of(out).count("leaked_at"), 0u) << "a rewrite never writes them";

    f["leaked_at"] = "soon";
    EXPECT_FALSE(decode_record("abcdefghijkl", f, out, error));
}

// Key names as pieces (written into the request pool by the module) spell
// the same names as the data model's builders.
TEST(KeyName, PiecesSpellTheDataModel) {
    EXPECT_EQ(apikey::record_key_name("apikey:", "abc123def456").str(), "apikey:key:{abc123def456}");
    EXPECT_EQ(apikey::record_key_name("p:", "x").size(), std::string("p:key:{x}").size());
    EXPECT_EQ(apikey::bucket_key_name("apikey:", "abc123def456", "export").str(),
              "apikey:bucket:{abc123def456}:export");
    EXPECT_EQ(apikey::quota_key_name("apikey:", "abc123def456").str(), "apikey:quota:{abc123def456}");
    EXPECT_EQ(apikey::record_key("apikey:", "id"), apikey::record_key_name("apikey:", "id").str());
}
