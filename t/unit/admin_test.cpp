#include <gtest/gtest.h>

#include "admin.hpp"
#include "text.hpp"

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
        {"POST", "keys/abcdefghijkl/disable", AdminRoute::kDisable, "abcdefghijkl"},
        {"POST", "keys/abcdefghijkl/enable", AdminRoute::kEnable, "abcdefghijkl"},
        {"GET", "keys/abcdefghijkl/enable", AdminRoute::kMethodNotAllowed, "abcdefghijkl"},
        {"GET", "roles", AdminRoute::kRoleList, ""},
        {"POST", "roles/", AdminRoute::kRoleCreate, ""},
        {"PUT", "roles", AdminRoute::kMethodNotAllowed, ""},
        {"GET", "roles/reader", AdminRoute::kRoleGet, "reader"},
        {"PATCH", "roles/reader", AdminRoute::kRoleUpdate, "reader"},
        {"DELETE", "roles/reader", AdminRoute::kRoleDelete, "reader"},
        {"POST", "roles/reader", AdminRoute::kMethodNotAllowed, "reader"},
        {"GET", "roles/Reader", AdminRoute::kNotFound, ""},
        {"GET", "roles/a/b", AdminRoute::kNotFound, ""},
        {"GET", "plans", AdminRoute::kPlanList, ""},
        {"POST", "plans", AdminRoute::kPlanCreate, ""},
        {"GET", "plans/pro-2", AdminRoute::kPlanGet, "pro-2"},
        {"PATCH", "plans/pro-2", AdminRoute::kPlanUpdate, "pro-2"},
        {"DELETE", "plans/pro-2", AdminRoute::kPlanDelete, "pro-2"},
        {"POST", "owners/acct_42/revoke", AdminRoute::kOwnerRevoke, "acct_42"},
        {"GET", "owners/acct_42/revoke", AdminRoute::kMethodNotAllowed, "acct_42"},
        {"POST", "owners/acct 42/revoke", AdminRoute::kNotFound, ""},
        {"POST", "owners/acct_42", AdminRoute::kNotFound, ""},
        {"POST", "owners/acct_42/other", AdminRoute::kNotFound, ""},
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

TEST(AdminBody, KeyModel) {
    KeyChanges c;
    EXPECT_EQ(parse_key_changes(AdminRoute::kCreate,
                                R"({"name":"n","owner":"acct_42","role":"reader","plan":"pro",)"
                                R"("env":"test","meta":{"tier":"gold","a":"b"},)"
                                R"("allow_ip":["10.1.2.3/8","2001:DB8::1"]})", c), "");
    EXPECT_EQ(*c.owner, "acct_42");
    EXPECT_EQ(*c.role, "reader");
    EXPECT_EQ(*c.plan, "pro");
    EXPECT_EQ(*c.env, "test");
    ASSERT_EQ(c.meta.size(), 2u);
    EXPECT_EQ(*c.allow_ip, "10.0.0.0/8 2001:db8::1/128") << "canonical";

    // PATCH: null removes (an empty value for the script)
    EXPECT_EQ(parse_key_changes(AdminRoute::kUpdate,
                                R"({"owner":null,"role":null,"allow_ip":null,"meta":{"a":null}})", c), "");
    EXPECT_EQ(*c.owner, "");
    EXPECT_EQ(*c.role, "");
    EXPECT_EQ(*c.allow_ip, "");
    ASSERT_EQ(c.meta.size(), 1u);
    EXPECT_EQ(c.meta[0].second, "");
    EXPECT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"allow_ip":[]})", c), "");
    EXPECT_EQ(*c.allow_ip, "");

    struct Row { AdminRoute route; const char* body; const char* contains; };
    const Row rows[] = {
        {AdminRoute::kCreate, R"({"name":"n","owner":"a b"})", "invalid \"owner\""},
        {AdminRoute::kCreate, R"({"name":"n","owner":null})", "must be a string"},
        {AdminRoute::kCreate, R"({"name":"n","role":"Big"})", "invalid \"role\""},
        {AdminRoute::kCreate, R"({"name":"n","plan":"-x"})", "invalid \"plan\""},
        {AdminRoute::kCreate, R"({"name":"n","env":"prod"})", "live or test"},
        {AdminRoute::kUpdate, R"({"env":"test"})", "unknown member \"env\""},
        {AdminRoute::kCreate, R"({"name":"n","meta":[]})", "object of strings"},
        {AdminRoute::kCreate, R"({"name":"n","meta":{"a":1}})", "object of strings"},
        {AdminRoute::kCreate, R"({"name":"n","meta":{"a":null}})", "object of strings"},
        {AdminRoute::kCreate, R"({"name":"n","meta":{"A":"v"}})", "invalid meta name"},
        {AdminRoute::kCreate, R"({"name":"n","meta":{"a":""}})", "empty"},
        {AdminRoute::kCreate, R"({"name":"n","allow_ip":["10.0.0.0/33"]})", "invalid \"allow_ip\""},
        {AdminRoute::kCreate, R"({"name":"n","allow_ip":[]})", "must not be empty"},
        {AdminRoute::kCreate, R"({"name":"n","allow_ip":"10.0.0.1"})", "array of strings"},
        {AdminRoute::kDisable, R"({"name":"n"})", "unknown member \"name\""},
        {AdminRoute::kOwnerRevoke, R"({"owner":"x"})", "unknown member \"owner\""},
    };
    for (const auto& row : rows) {
        std::string e = parse_key_changes(row.route, row.body, c);
        EXPECT_NE(e.find(row.contains), std::string::npos) << row.body << " -> " << e;
    }
    std::string many = R"({"name":"n","meta":{)";
    for (int i = 0; i < 17; i++) many += (i ? "," : "") + std::string("\"m") + std::to_string(i) + "\":\"v\"";
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, many + "}}", c).find("at most 16"), std::string::npos);
    for (auto route : {AdminRoute::kDisable, AdminRoute::kEnable, AdminRoute::kOwnerRevoke}) {
        EXPECT_EQ(parse_key_changes(route, "", c), "") << "no body needed";
    }
}

TEST(AdminBody, Groups) {
    GroupChanges g;
    std::string name;
    EXPECT_EQ(parse_group_changes(AdminRoute::kRoleCreate,
                                  R"({"name":"reader","scopes":["b","a"],"description":"d"})", name, g), "");
    EXPECT_EQ(name, "reader");
    EXPECT_EQ(*g.value, "b a");
    EXPECT_EQ(*g.description, "d");
    name.clear();
    EXPECT_EQ(parse_group_changes(AdminRoute::kPlanCreate, R"({"name":"pro","limits":["10r/s"]})", name, g), "");
    EXPECT_EQ(*g.value, "10r/s:10");
    EXPECT_FALSE(g.description);
    EXPECT_EQ(parse_group_changes(AdminRoute::kRoleUpdate, R"({"description":"only"})", name, g), "");
    EXPECT_FALSE(g.value) << "the scopes are kept";

    struct Row { AdminRoute route; const char* body; const char* contains; };
    const Row rows[] = {
        {AdminRoute::kRoleCreate, R"({"scopes":["a"]})", "\"name\" is required"},
        {AdminRoute::kRoleCreate, R"({"name":"r"})", "\"scopes\" is required"},
        {AdminRoute::kPlanCreate, R"({"name":"p"})", "\"limits\" is required"},
        {AdminRoute::kRoleCreate, R"({"name":"R","scopes":[]})", "invalid \"name\""},
        {AdminRoute::kRoleCreate, R"({"name":"r","scopes":["a b"]})", "invalid scope"},
        {AdminRoute::kPlanCreate, R"({"name":"p","limits":["7r/w"]})", "invalid"},
        {AdminRoute::kPlanCreate, R"({"name":"p","scopes":["a"]})", "unknown member \"scopes\""},
        {AdminRoute::kRoleUpdate, R"({"name":"other"})", "unknown member \"name\""},
        {AdminRoute::kRoleUpdate, "{}", "nothing to change"},
        {AdminRoute::kRoleUpdate, R"({"description":"a\u202eb"})", "invalid \"description\""},
        {AdminRoute::kRoleUpdate, "[]", "JSON object"},
    };
    for (const auto& row : rows) {
        name.clear();
        std::string e = parse_group_changes(row.route, row.body, name, g);
        EXPECT_NE(e.find(row.contains), std::string::npos) << row.body << " -> " << e;
    }
}

TEST(AdminQuery, Parse) {
    ListQuery q;
    EXPECT_EQ(parse_list_query("status=active&name_prefix=ci%20bot+x&expiring_within=14d&"
                               "unused_since=30d&limit=10&cursor=1700000000:abcdefghijkl", q), "");
    EXPECT_EQ(*q.status, "active");
    EXPECT_EQ(q.name_prefix, "ci bot x");
    EXPECT_EQ(*q.expiring_within, 14 * 86400);
    EXPECT_EQ(q.limit.value_or(0), 10u);
    EXPECT_EQ(q.after, "1700000000:abcdefghijkl") << "the page mode's cursor";
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

TEST(AdminRoute, AllowLists) {
    struct Row { const char* path; const char* allow; };
    const Row rows[] = {
        {"", "GET"},
        {"keys/openapi.json", "GET"},
        {"keys", "GET, POST"},
        {"keys/abcdefghijkl", "GET, PATCH, DELETE"},
        {"keys/abcdefghijkl/rotate", "POST"},
        {"keys/abcdefghijkl/revoke", "POST"},
        {"keys/abcdefghijkl/audit", "GET"},
    };
    for (const auto& row : rows) {
        AdminTarget t = admin_route("OPTIONS", row.path);
        EXPECT_EQ(t.route, AdminRoute::kMethodNotAllowed) << row.path;
        EXPECT_EQ(t.allow, row.allow) << row.path;
    }
    EXPECT_TRUE(admin_route_is_public(admin_route("GET", "").route));
    EXPECT_TRUE(admin_route_is_public(admin_route("GET", "keys/openapi.json").route));
    EXPECT_TRUE(admin_route_is_public(admin_route("PUT", "keys").route));
    EXPECT_FALSE(admin_route_is_public(admin_route("GET", "keys").route));
    EXPECT_FALSE(admin_route_is_public(admin_route("DELETE", "keys/abcdefghijkl").route));
    EXPECT_FALSE(admin_route_is_public(admin_route("GET", "elsewhere").route));
}

TEST(AdminGuard, Table) {
    struct Row {
        const char* method; const char* type; const char* origin; std::size_t origins;
        const char* fetch_site; const char* scheme; int status;
    };
    const Row rows[] = {
        {"POST", "application/json", "", 0, "", "http", 0},
        {"POST", "application/json; charset=utf-8", "", 0, "", "http", 0},
        {"PATCH", "Application/JSON", "", 0, "", "http", 0},
        {"DELETE", "application/json", "", 0, "", "http", 0},
        {"GET", "", "", 0, "", "http", 0},
        {"POST", "", "", 0, "", "http", 415},
        {"DELETE", "", "", 0, "", "http", 415},
        {"PUT", "text/plain", "", 0, "", "http", 415},
        {"POST", "text/plain", "", 0, "", "http", 415},
        {"POST", "application/x-www-form-urlencoded", "", 0, "", "http", 415},
        {"POST", "multipart/form-data; boundary=x", "", 0, "", "http", 415},
        {"POST", "application/jsonx", "", 0, "", "http", 415},
        {"POST", "application/json", "http://admin.example:8080", 1, "", "http", 0},
        {"POST", "application/json", "http://ADMIN.example:8080", 1, "same-origin", "http", 0},
        {"POST", "application/json", "https://admin.example:8080", 1, "", "https", 0},
        {"POST", "application/json", "https://admin.example:8080", 1, "", "http", 403},
        {"POST", "application/json", "http://admin.example", 1, "", "http", 403},
        {"POST", "application/json", "http://evil.example", 1, "", "http", 403},
        {"POST", "application/json", "null", 1, "", "http", 403},
        {"POST", "application/json", "http://admin.example:8080", 2, "", "http", 403},
        {"GET", "", "http://evil.example", 1, "", "http", 403},
        {"POST", "application/json", "", 0, "cross-site", "http", 403},
        {"POST", "application/json", "", 0, "same-site", "http", 403},
        {"POST", "application/json", "", 0, "none", "http", 0},
        {"POST", "text/plain", "http://evil.example", 1, "cross-site", "http", 403},
    };
    for (const auto& row : rows) {
        AdminRequestHeaders h;
        h.method = row.method;
        h.content_type = row.type;
        h.origin = row.origin;
        h.origins = row.origins;
        h.sec_fetch_site = row.fetch_site;
        h.scheme = row.scheme;
        h.host = "admin.example:8080";
        AdminGuard g = admin_guard(h);
        EXPECT_EQ(g.status, row.status) << row.method << " " << row.type << " " << row.origin << " "
                                        << row.fetch_site;
        EXPECT_EQ(g.message.empty(), row.status == 0);
    }
}

TEST(AdminPage, CspHashesEveryInlineScriptAndStyle) {
    // echo -n 'a()' | openssl dgst -sha256 -binary | base64
    std::string csp = admin_page_csp("<style>b{}</style><script>a()</script><p><script>c()</script>");
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'sha256-qVpDBgj7bpq5hMAcGp3AOc79J3Y1Z4HvySTwKrWDoy4=' 'sha256-"),
              std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src 'sha256-"), std::string::npos) << csp;
    std::string none = admin_page_csp("<p>no code</p>");
    EXPECT_NE(none.find("script-src 'none'"), std::string::npos) << none;
}

TEST(AdminBody, CountsCharactersNotBytes) {
    EXPECT_EQ(utf8_length(""), 0u);
    EXPECT_EQ(utf8_length("abc"), 3u);
    EXPECT_EQ(utf8_length("\xc3\xa9t\xc3\xa9"), 3u);          // été
    EXPECT_EQ(utf8_length("\xf0\x9f\x94\x91"), 1u);           // one emoji, 4 bytes
    KeyChanges c;
    std::string e128, e129;
    for (int i = 0; i < 128; i++) e128 += "\xc3\xa9";
    e129 = e128 + "\xc3\xa9";
    EXPECT_EQ(parse_key_changes(AdminRoute::kCreate, "{\"name\":\"" + e128 + "\"}", c), "");
    EXPECT_NE(parse_key_changes(AdminRoute::kCreate, "{\"name\":\"" + e129 + "\"}", c), "");
    std::string r1024, r1025;
    for (int i = 0; i < 1024; i++) r1024 += "\xc3\xa9";
    r1025 = r1024 + "x";
    EXPECT_EQ(parse_key_changes(AdminRoute::kRevoke, "{\"reason\":\"" + r1024 + "\"}", c), "");
    EXPECT_NE(parse_key_changes(AdminRoute::kRevoke, "{\"reason\":\"" + r1025 + "\"}", c), "");
}

TEST(AdminBody, PatchNeedsSomethingToChange) {
    KeyChanges c;
    EXPECT_NE(parse_key_changes(AdminRoute::kUpdate, "{}", c).find("nothing to change"), std::string::npos);
    EXPECT_NE(parse_key_changes(AdminRoute::kUpdate, R"({"reason":"x"})", c).find("nothing to change"),
              std::string::npos);
    EXPECT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"name":"n"})", c), "");
    EXPECT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"limits":[]})", c), "");
}

TEST(AdminQuery, NamePrefixLengthInCharacters) {
    ListQuery q;
    std::string e128;
    for (int i = 0; i < 128; i++) e128 += "%C3%A9";
    EXPECT_EQ(parse_list_query("name_prefix=" + e128, q), "");
    EXPECT_EQ(q.name_prefix.size(), 256u);
    EXPECT_NE(parse_list_query("name_prefix=" + e128 + "x", q), "");
    EXPECT_NE(parse_list_query("name_prefix=", q), "");
}
