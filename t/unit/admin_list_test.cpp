// The key model's core pieces for apikeyctl and the admin API: owner, role,
// plan and meta rules, the fields a change writes, the list query, the page
// mode's arguments, cursors and order, and the page and role/plan replies.
#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <map>
#include <string>
#include <vector>

#include "admin.hpp"
#include "admin_script.hpp"

using namespace apikey;

namespace {

struct Reply {
    explicit Reply(const std::string& resp) {
        redisReader* reader = redisReaderCreate();
        redisReaderFeed(reader, resp.data(), resp.size());
        void* out = nullptr;
        EXPECT_EQ(redisReaderGetReply(reader, &out), REDIS_OK);
        reply = static_cast<redisReply*>(out);
        redisReaderFree(reader);
    }
    ~Reply() {
        if (reply) freeReplyObject(reply);
    }
    redisReply* reply = nullptr;
};

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
std::string array(std::size_t n) { return "*" + std::to_string(n) + "\r\n"; }

std::string record_resp(const std::string& name, const std::string& created) {
    std::vector<std::string> f = {"digest", std::string(64, 'a'), "status", "active", "name", name,
                                  "created", created, "owner", "acct_1"};
    std::string out = array(f.size());
    for (const auto& s : f) out += bulk(s);
    return out;
}

KeyRecord record(std::string id, std::string name, std::int64_t created, std::int64_t expires = 0,
                 std::int64_t last_used = 0) {
    KeyRecord r;
    r.id = std::move(id);
    r.name = std::move(name);
    r.created = created;
    r.expires = expires;
    r.last_used = last_used;
    r.status = "active";
    return r;
}

}  // namespace

TEST(KeyModel, OwnerAndGroupNames) {
    EXPECT_TRUE(valid_owner("acct_42"));
    EXPECT_TRUE(valid_owner("team-7@example.com"));
    EXPECT_TRUE(valid_owner("a:b.c"));
    EXPECT_TRUE(valid_owner(std::string(128, 'x')));
    EXPECT_FALSE(valid_owner(""));
    EXPECT_FALSE(valid_owner(std::string(129, 'x')));
    EXPECT_FALSE(valid_owner("has space"));
    EXPECT_FALSE(valid_owner("a{b}"));

    EXPECT_TRUE(valid_group_name("reader"));
    EXPECT_TRUE(valid_group_name("0tier.2_b-c"));
    EXPECT_TRUE(valid_group_name(std::string(64, 'a')));
    EXPECT_FALSE(valid_group_name(std::string(65, 'a')));
    EXPECT_FALSE(valid_group_name(""));
    EXPECT_FALSE(valid_group_name("-lead"));
    EXPECT_FALSE(valid_group_name("_lead"));
    EXPECT_FALSE(valid_group_name("Upper"));
    EXPECT_FALSE(valid_group_name("a b"));
}

TEST(KeyModel, Meta) {
    EXPECT_EQ(meta_problem("tenant", "t-42"), "");
    EXPECT_EQ(meta_problem("tenant", ""), "");   // removes one (update)
    EXPECT_NE(meta_problem("Tenant", "x"), "");
    EXPECT_NE(meta_problem("a-b", "x"), "");
    EXPECT_NE(meta_problem(std::string(33, 'n'), "x"), "");
    EXPECT_EQ(meta_problem(std::string(32, 'n'), std::string(256, 'v')), "");
    EXPECT_NE(meta_problem("n", std::string(257, 'v')).find("too long"), std::string::npos);
    EXPECT_NE(meta_problem("n", "a\x01b"), "");
    EXPECT_NE(meta_problem("n", "\xff"), "");
    EXPECT_EQ(meta_json({{"tier", "gold"}, {"tenant", "t\"1"}, {"tier", "pro"}}),
              "{\"tenant\":\"t\\\"1\",\"tier\":\"pro\"}");   // sorted, the last one wins
    EXPECT_EQ(meta_json({}), "");
}

TEST(KeyModel, ChangedFields) {
    KeyChanges c;
    c.owner = "acct_1";
    c.role = "";
    c.plan = "gold";
    c.env = "test";
    c.allow_ip = "10.0.0.0/8";
    c.meta = {{"b", "2"}, {"a", "1"}, {"gone", ""}};
    EXPECT_EQ(model_fields(c, true),
              (std::vector<std::string>{"owner", "acct_1", "role", "", "plan", "gold", "env",
                                        "test", "allow_ip", "10.0.0.0/8", "meta",
                                        "{\"a\":\"1\",\"b\":\"2\"}"}));
    // update: a patch the script merges, "" removing a name
    auto update = model_fields(c, false);
    ASSERT_EQ(update.size(), 12u);
    EXPECT_EQ(update[10], "meta_patch");
    EXPECT_EQ(update[11], "{\"a\":\"1\",\"b\":\"2\",\"gone\":\"\"}");
    EXPECT_TRUE(model_fields(KeyChanges{}, false).empty());
}

TEST(KeyModel, NewKeyRecord) {
    KeyChanges c;
    c.name = "k";
    c.owner = "acct_1";
    c.role = "reader";
    c.env = "test";
    c.meta = {{"tier", "gold"}, {"none", ""}};
    c.allow_ip = "10.0.0.0/8";
    KeyRecord r = new_key_record(c, "abcdefghijkl", std::string(64, 'a'), "hint", 100);
    EXPECT_EQ(r.owner, "acct_1");
    EXPECT_EQ(r.role, "reader");
    EXPECT_EQ(r.plan, "");
    EXPECT_EQ(r.env, "test");
    EXPECT_EQ(r.meta, "{\"tier\":\"gold\"}");
    EXPECT_EQ(r.allow_ip, "10.0.0.0/8");
    std::map<std::string, std::string> fields;
    for (auto& [f, v] : record_fields(r)) fields[f] = v;
    EXPECT_EQ(fields["owner"], "acct_1");
    EXPECT_EQ(fields.count("plan"), 0u);   // unset: not written
    // a key without the model is written as a v1 record was
    KeyChanges plain;
    plain.name = "p";
    for (auto& [f, v] : record_fields(new_key_record(plain, "abcdefghijkl", "d", "h", 1))) {
        EXPECT_TRUE(f != "owner" && f != "role" && f != "env" && f != "meta") << f;
    }
}

TEST(ListQueryParse, ModelFiltersSortSearchCursor) {
    ListQuery q;
    EXPECT_EQ(parse_list_query("owner=acct_42&role=reader&plan=gold&env=test&status=disabled"
                               "&sort=name&order=desc&search=Billing%20X&cursor=1700000000%3Aabcdefghijkl",
                               q), "");
    EXPECT_EQ(*q.owner, "acct_42");
    EXPECT_EQ(*q.role, "reader");
    EXPECT_EQ(*q.plan, "gold");
    EXPECT_EQ(*q.env, "test");
    EXPECT_EQ(*q.status, "disabled");
    EXPECT_EQ(q.sort, "name");
    EXPECT_EQ(q.ascending, false);
    EXPECT_EQ(q.search, "Billing X");
    EXPECT_EQ(q.after, "1700000000:abcdefghijkl");
    EXPECT_NE(parse_list_query("cursor=7a%3Aabc", q), "");   // a score must be a number
    EXPECT_EQ(parse_list_query("cursor=1700000000%3Aabcdefghijkl", q), "");
    EXPECT_EQ(q.after, "1700000000:abcdefghijkl");
    EXPECT_EQ(parse_list_query("cursor=inf%3Aabcdefghijkl", q), "");
    EXPECT_EQ(parse_list_query("cursor=616200", q), "");   // name cursor: hex
    EXPECT_NE(parse_list_query("cursor=61620", q), "");    // odd length
    EXPECT_NE(parse_list_query("sort=size", q), "");
    EXPECT_NE(parse_list_query("order=up", q), "");
    EXPECT_NE(parse_list_query("env=prod", q), "");
    EXPECT_NE(parse_list_query("owner=a%20b", q), "");
    EXPECT_NE(parse_list_query("role=Bad", q), "");
    EXPECT_NE(parse_list_query("search=a%01b", q), "");
    // the admin API's earlier parameters still parse
    EXPECT_EQ(parse_list_query("status=active&cursor=0&limit=50", q), "");
}

TEST(ListPage, Arguments) {
    ListQuery q;
    auto args = page_arguments(q, 50, 1700000000);
    EXPECT_EQ(args, (std::vector<std::string>{"created", "desc", "50", "", "1700000000",
                                              std::to_string(kPageBudget), "", "", "", "", "",
                                              ""}));
    q.sort = "name";
    q.search = "BiLL";
    q.owner = "o";
    q.env = "test";
    args = page_arguments(q, 10, 1);
    EXPECT_EQ(args[0], "name");
    EXPECT_EQ(args[1], "asc");   // A to Z by default
    EXPECT_EQ(args[7], "o");
    EXPECT_EQ(args[10], "test");
    EXPECT_EQ(args[11], "bill");   // the search is compared in lower case
    q.ascending = false;
    EXPECT_EQ(page_arguments(q, 10, 1)[1], "desc");
    EXPECT_TRUE(sort_ascending_by_default("expires"));
    EXPECT_FALSE(sort_ascending_by_default("last_used"));
}

TEST(ListPage, CursorsFollowTheOrder) {
    std::vector<KeyRecord> rs = {record("aaaaaaaaaaa1", "beta", 30, 0, 5),
                                 record("aaaaaaaaaaa2", "Alpha", 10, 100, 0),
                                 record("aaaaaaaaaaa3", "alpha", 30, 50, 9)};
    ListQuery q;
    sort_for_page(rs, q);   // newest first; a tie by id, as ZREVRANGE has it
    EXPECT_EQ(rs[0].id, "aaaaaaaaaaa3");
    EXPECT_EQ(rs[1].id, "aaaaaaaaaaa1");
    EXPECT_EQ(rs[2].id, "aaaaaaaaaaa2");
    EXPECT_EQ(page_cursor(rs[0], "created"), "30:aaaaaaaaaaa3");
    q.sort = "name";
    sort_for_page(rs, q);   // without case, then id
    EXPECT_EQ(rs[0].id, "aaaaaaaaaaa2");
    EXPECT_EQ(rs[1].id, "aaaaaaaaaaa3");
    EXPECT_EQ(rs[2].id, "aaaaaaaaaaa1");
    EXPECT_EQ(page_cursor(rs[0], "name"), "616c70686100616161616161616161616132");
    EXPECT_TRUE(valid_page_cursor(page_cursor(rs[0], "name")));
    q.sort = "expires";
    sort_for_page(rs, q);   // soonest first, never last
    EXPECT_EQ(rs[0].id, "aaaaaaaaaaa3");
    EXPECT_EQ(rs[2].id, "aaaaaaaaaaa1");
    EXPECT_EQ(page_cursor(rs[2], "expires"), "inf:aaaaaaaaaaa1");
    EXPECT_TRUE(valid_page_cursor("inf:aaaaaaaaaaa1"));
    q.sort = "last_used";
    sort_for_page(rs, q);
    EXPECT_EQ(rs[0].id, "aaaaaaaaaaa3");
    EXPECT_FALSE(valid_page_cursor(""));
    EXPECT_FALSE(valid_page_cursor("12:"));
    EXPECT_FALSE(valid_page_cursor("x:abc"));
}

TEST(ListPage, FollowsCursor) {
    ListQuery q;   // newest first
    KeyRecord a = record("aaaaaaaaaaa1", "b", 30), b = record("aaaaaaaaaaa2", "a", 30),
              c = record("aaaaaaaaaaa3", "c", 10);
    EXPECT_TRUE(follows_cursor(a, q));
    q.after = page_cursor(b, "created");   // 30:aaaaaaaaaaa2; descending: ...a2, a1, a3
    EXPECT_TRUE(follows_cursor(a, q));
    EXPECT_FALSE(follows_cursor(b, q));
    EXPECT_TRUE(follows_cursor(c, q));
    q.after = "20:zzzzzzzzzzzz";   // a key that is gone: the order still says where
    EXPECT_FALSE(follows_cursor(a, q));
    EXPECT_TRUE(follows_cursor(c, q));
    q.sort = "name";
    q.after = page_cursor(a, "name");   // A to Z: a, b, c
    EXPECT_FALSE(follows_cursor(b, q));
    EXPECT_FALSE(follows_cursor(a, q));
    EXPECT_TRUE(follows_cursor(c, q));
    q.sort = "expires";
    q.after = "inf:aaaaaaaaaaa1";
    EXPECT_TRUE(follows_cursor(record("aaaaaaaaaaa2", "x", 1, 0), q));
    EXPECT_FALSE(follows_cursor(record("aaaaaaaaaaa0", "x", 1, 5), q));
}

TEST(ListPage, DecodePage) {
    Reply r(array(6) + bulk("page") + bulk("30:id2") + bulk("id1") + record_resp("one", "40") +
            bulk("id2") + record_resp("two", "30"));
    AdminPage page;
    bool reindex = true;
    std::string error;
    ASSERT_TRUE(decode_admin_page(r.reply, page, reindex, error)) << error;
    EXPECT_FALSE(reindex);
    EXPECT_EQ(page.cursor, "30:id2");
    ASSERT_EQ(page.records.size(), 2u);
    EXPECT_EQ(page.records[0].id, "id1");
    EXPECT_EQ(page.records[0].owner, "acct_1");
    EXPECT_EQ(page.records[1].created, 30);

    Reply again(array(1) + bulk("reindex"));
    ASSERT_TRUE(decode_admin_page(again.reply, page, reindex, error));
    EXPECT_TRUE(reindex);

    Reply bad(array(2) + bulk("nope") + bulk(""));
    EXPECT_FALSE(decode_admin_page(bad.reply, page, reindex, error));
    Reply err("-ERR boom\r\n");
    EXPECT_FALSE(decode_admin_page(err.reply, page, reindex, error));
    EXPECT_EQ(error, "ERR boom");
}

TEST(Groups, ArgumentsAndReplies) {
    GroupChanges c;
    c.value = "read list";
    EXPECT_EQ(group_arguments(c, 7), (std::vector<std::string>{"read list", "0", "", "7", "1"}));
    c.value.reset();
    c.description = "d";
    EXPECT_EQ(group_arguments(c, 7), (std::vector<std::string>{"", "1", "d", "7", "0"}));

    Reply ok(array(5) + bulk("ok") + array(4) + bulk("scopes") + bulk("read list") + bulk("created") +
             bulk("5") + ":2\r\n" + bulk("k1") + bulk("k2"));
    // {"ok", fields, count, ids...}
    Group g;
    std::vector<std::string> changed;
    AdminReply r = decode_admin_group(ok.reply, "role", g, changed);
    ASSERT_EQ(r.status, AdminReply::Status::kOk);
    EXPECT_EQ(g.value, "read list");
    EXPECT_EQ(g.created, 5);
    EXPECT_EQ(g.keys, 2);
    EXPECT_EQ(changed, (std::vector<std::string>{"k1", "k2"}));
    g.name = "reader";
    EXPECT_EQ(group_json(g, "role"),
              "{\"name\":\"reader\",\"scopes\":[\"read\",\"list\"],\"description\":\"\","
              "\"keys\":2,\"created_at\":\"1970-01-01T00:00:05Z\","
              "\"updated_at\":\"1970-01-01T00:00:00Z\"}");

    Reply conflict(array(2) + bulk("conflict") + bulk("2 key(s) use role \"reader\""));
    EXPECT_EQ(decode_admin_group(conflict.reply, "role", g, changed).status,
              AdminReply::Status::kConflict);
    Reply missing(array(1) + bulk("not_found"));
    EXPECT_EQ(decode_admin_group(missing.reply, "plan", g, changed).status,
              AdminReply::Status::kNotFound);

    Reply list(array(3) + bulk("gold") + array(2) + bulk("limits") + bulk("60r/m:60") + ":0\r\n");
    std::vector<Group> groups;
    std::string error;
    ASSERT_TRUE(decode_admin_groups(list.reply, "plan", groups, error));
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0].name, "gold");
    EXPECT_EQ(groups[0].value, "60r/m:60");
}

TEST(ListMatches, ModelFilters) {
    KeyRecord r = record("aaaaaaaaaaa1", "Billing Export", 1);
    r.owner = "acct_1";
    r.role = "reader";
    r.env = "test";
    ListQuery q;
    q.owner = "acct_1";
    q.role = "reader";
    q.env = "test";
    q.search = "LING ex";
    EXPECT_TRUE(list_matches(r, q, 2));
    q.env = "live";
    EXPECT_FALSE(list_matches(r, q, 2));
    q.env.reset();
    q.plan = "gold";
    EXPECT_FALSE(list_matches(r, q, 2));
    q.plan.reset();
    r.status = "disabled";
    q.status = "disabled";
    EXPECT_TRUE(list_matches(r, q, 2));
    q.search = "nope";
    EXPECT_FALSE(list_matches(r, q, 2));
}
