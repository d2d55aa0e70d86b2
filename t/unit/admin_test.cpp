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
