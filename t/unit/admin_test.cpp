#include <gtest/gtest.h>

#include "admin.hpp"

using namespace apikey;

TEST(AdminRoute, Table) {
    struct Row { const char* method; const char* path; AdminRoute route; const char* id; };
    const Row rows[] = {
        {"GET", "", AdminRoute::kPage, ""},
        {"GET", "index.html", AdminRoute::kPage, ""},
        {"POST", "", AdminRoute::kMethodNotAllowed, ""},
        {"GET", "keys/openapi.json", AdminRoute::kOpenApi, ""},
        {"GET", "keys", AdminRoute::kList, ""},
        {"GET", "keys/", AdminRoute::kList, ""},
        {"POST", "keys", AdminRoute::kCreate, ""},
        {"PUT", "keys", AdminRoute::kMethodNotAllowed, ""},
        {"GET", "keys/abcdefghijkl", AdminRoute::kGet, "abcdefghijkl"},
        {"PATCH", "keys/abcdefghijkl", AdminRoute::kUpdate, "abcdefghijkl"},
        {"DELETE", "keys/abcdefghijkl", AdminRoute::kDelete, "abcdefghijkl"},
        {"POST", "keys/abcdefghijkl", AdminRoute::kMethodNotAllowed, "abcdefghijkl"},
        {"POST", "keys/abcdefghijkl/rotate", AdminRoute::kRotate, "abcdefghijkl"},
        {"POST", "keys/abcdefghijkl/revoke", AdminRoute::kRevoke, "abcdefghijkl"},
        {"GET", "keys/abcdefghijkl/revoke", AdminRoute::kMethodNotAllowed, "abcdefghijkl"},
        {"GET", "keys/abcdefghijkl/audit", AdminRoute::kAudit, "abcdefghijkl"},
        {"GET", "keys/abcdefghijkl/other", AdminRoute::kNotFound, "abcdefghijkl"},
        {"GET", "keys/NOT-AN-ID", AdminRoute::kNotFound, ""},
        {"GET", "elsewhere", AdminRoute::kNotFound, ""},
    };
    for (const auto& row : rows) {
        AdminTarget t = admin_route(row.method, row.path);
        EXPECT_EQ(t.route, row.route) << row.method << " " << row.path;
        if (row.route != AdminRoute::kNotFound) {
            EXPECT_EQ(t.id, row.id) << row.path;
        }
    }
}

TEST(AdminBody, Create) {
    KeyChanges c;
    EXPECT_EQ(parse_key_changes(AdminRoute::kCreate,
                                R"({"name":"n","scopes":["b","a","b"],"expires_in":"30d",)"
                                R"("limits":["600r/m:50"],"reason":"why"})", c), "");
    EXPECT_EQ(*c.name, "n");
    EXPECT_EQ(*c.scopes, "b a");
    EXPECT_EQ(*c.expires_in, 30 * 86400);
    EXPECT_EQ(*c.limits, "600r/m:50");
    EXPECT_EQ(c.reason, "why");
    EXPECT_EQ(parse_key_changes(AdminRoute::kCreate, R"({"name":"n","expires_in":"never"})", c), "");
    EXPECT_EQ(*c.expires_in, 0);
}

TEST(AdminBody, Errors) {
    KeyChanges c;
    struct Row { AdminRoute route; const char* body; const char* contains; };
    const Row rows[] = {
        {AdminRoute::kCreate, "", "malformed JSON"},
        {AdminRoute::kCreate, "[]", "JSON object"},
        {AdminRoute::kCreate, "{}", "\"name\" is required"},
        {AdminRoute::kCreate, R"({"name":""})", "invalid \"name\""},
        {AdminRoute::kCreate, R"({"name":"a\nb"})", "invalid \"name\""},
        {AdminRoute::kCreate, R"({"name":"n","scopes":"read"})", "array of strings"},
        {AdminRoute::kCreate, R"({"name":"n","scopes":["a b"]})", "invalid scope"},
        {AdminRoute::kCreate, R"({"name":"n","expires_in":"soon"})", "invalid \"expires_in\""},
        {AdminRoute::kCreate, R"({"name":"n","limits":["10r/x"]})", "invalid rate"},
        {AdminRoute::kCreate, R"({"name":"n","nmae":"typo"})", "unknown member \"nmae\""},
        {AdminRoute::kCreate, R"({"name":"n","grace":"1h"})", "unknown member \"grace\""},
        {AdminRoute::kRotate, R"({"grace":"eventually"})", "invalid \"grace\""},
        {AdminRoute::kRevoke, R"({"name":"x"})", "unknown member \"name\""},
        {AdminRoute::kUpdate, R"({"name":1})", "must be a string"},
    };
    for (const auto& row : rows) {
        std::string e = parse_key_changes(row.route, row.body, c);
        EXPECT_NE(e.find(row.contains), std::string::npos) << row.body << " -> " << e;
    }
    EXPECT_EQ(parse_key_changes(AdminRoute::kRevoke, "", c), "") << "revoke needs no body";
    EXPECT_EQ(parse_key_changes(AdminRoute::kRotate, " \n", c), "");
    EXPECT_EQ(parse_key_changes(AdminRoute::kRotate, R"({"grace":"0"})", c), "");
    EXPECT_EQ(c.grace, 0);
}

TEST(AdminQuery, Parse) {
    ListQuery q;
    EXPECT_EQ(parse_list_query("status=active&name_prefix=ci%20bot+x&expiring_within=14d&"
                               "unused_since=30d&limit=10&cursor=123", q), "");
    EXPECT_EQ(*q.status, "active");
    EXPECT_EQ(q.name_prefix, "ci bot x");
    EXPECT_EQ(*q.expiring_within, 14 * 86400);
    EXPECT_EQ(q.limit.value_or(0), 10u);
    EXPECT_EQ(q.cursor, "123");
    for (const char* bad : {"status=sleeping", "limit=0", "limit=201", "cursor=x", "bogus=1",
                            "name_prefix=%zz", "name_prefix=%4", "expiring_within=soon"}) {
        EXPECT_NE(parse_list_query(bad, q), "") << bad;
    }
}

TEST(AdminList, Filter) {
    KeyRecord r;
    r.name = "ci bot";
    r.status = "active";
    r.created = 1000;
    r.expires = 1000 + 10 * 86400;
    ListQuery q;
    EXPECT_TRUE(list_matches(r, q, 2000));
    q.name_prefix = "ci";
    EXPECT_TRUE(list_matches(r, q, 2000));
    q.name_prefix = "bot";
    EXPECT_FALSE(list_matches(r, q, 2000));
    q = ListQuery{};
    q.expiring_within = 14 * 86400;
    EXPECT_TRUE(list_matches(r, q, 2000));
    q.expiring_within = 1 * 86400;
    EXPECT_FALSE(list_matches(r, q, 2000));
    q = ListQuery{};
    q.unused_since = 30 * 86400;
    EXPECT_FALSE(list_matches(r, q, 2000)) << "created recently";
    EXPECT_TRUE(list_matches(r, q, 1000 + 31 * 86400)) << "never used, created long ago";
    r.last_used = 1000 + 30 * 86400;
    EXPECT_FALSE(list_matches(r, q, 1000 + 31 * 86400)) << "used recently";
}
