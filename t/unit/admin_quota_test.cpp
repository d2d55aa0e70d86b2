// Calendar quotas and credits on the management side: the request bodies,
// the CLI's quota items, the fields a change writes, the record's round trip.
#include <gtest/gtest.h>

#include <map>

#include "admin.hpp"
#include "quota.hpp"
#include "record.hpp"

using namespace apikey;

namespace {

// 2026-03-18T10:00:00Z, a Wednesday
constexpr std::int64_t kNow = 1773828000;
constexpr std::int64_t kDayStart = 1773792000;     // 2026-03-18T00:00:00Z
constexpr std::int64_t kMonthStart = 1772323200;   // 2026-03-01T00:00:00Z

std::map<std::string, std::string> as_map(const std::vector<std::string>& flat) {
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) out[flat[i]] = flat[i + 1];
    return out;
}

}  // namespace

TEST(AdminQuota, Periods) {
    EXPECT_EQ(period_span(QuotaPeriod::kDay, kNow).start, kDayStart);
    EXPECT_EQ(period_span(QuotaPeriod::kMonth, kNow).start, kMonthStart);
}

TEST(AdminQuota, CreditsRoute) {
    AdminTarget t = admin_route("POST", "keys/abcdefghijkl/credits");
    EXPECT_EQ(t.route, AdminRoute::kCredits);
    EXPECT_EQ(t.id, "abcdefghijkl");
    EXPECT_EQ(admin_route("GET", "keys/abcdefghijkl/credits").route, AdminRoute::kMethodNotAllowed);
    EXPECT_EQ(admin_mode(AdminRoute::kCredits), "credits");
    EXPECT_EQ(admin_action(AdminRoute::kCredits), "credits");
    EXPECT_TRUE(admin_has_body(AdminRoute::kCredits));
}

TEST(AdminQuota, BodyAccepts) {
    KeyChanges c;
    ASSERT_EQ(parse_key_changes(AdminRoute::kCreate,
                                R"({"name":"q","quota":"500/day  1000000/month","credits":25,)"
                                R"("refill":"100/month"})", c), "");
    EXPECT_EQ(c.quota, "500/day 1000000/month");
    EXPECT_EQ(c.credits, 25);
    EXPECT_EQ(c.refill, "100/month");
    EXPECT_FALSE(c.no_credits);

    ASSERT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"quota":null,"credits":null})", c), "");
    EXPECT_EQ(c.quota, "");
    EXPECT_TRUE(c.no_credits);
    EXPECT_FALSE(c.credits);

    ASSERT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"quota":"","refill":null})", c), "");
    EXPECT_EQ(c.quota, "");
    EXPECT_EQ(c.refill, "");

    ASSERT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"credits":1000000000000})", c), "");
    EXPECT_EQ(c.credits, kMaxCredits);
    ASSERT_EQ(parse_key_changes(AdminRoute::kUpdate, R"({"credits":0})", c), "");
    EXPECT_EQ(c.credits, 0);
}

TEST(AdminQuota, BodyRefuses) {
    struct Row { AdminRoute route; const char* body; const char* error; };
    const Row rows[] = {
        {AdminRoute::kCreate, R"({"name":"q","quota":"5/year"})", "invalid \"quota\""},
        {AdminRoute::kCreate, R"({"name":"q","quota":"0/day"})", "invalid \"quota\""},
        {AdminRoute::kCreate, R"({"name":"q","quota":"1/day 2/day"})", "at most one quota per period"},
        {AdminRoute::kCreate, R"({"name":"q","quota":["1/day"]})", "\"quota\" must be a string"},
        {AdminRoute::kCreate, R"({"name":"q","quota":""})", "must not be empty"},
        {AdminRoute::kCreate, R"({"name":"q","quota":null})", "\"quota\" must be a string"},
        {AdminRoute::kCreate, R"({"name":"q","credits":-1})", "\"credits\" must be a whole number"},
        {AdminRoute::kCreate, R"({"name":"q","credits":1.5})", "\"credits\" must be a whole number"},
        {AdminRoute::kCreate, R"({"name":"q","credits":1000000000001})", "from 0 to 1000000000000"},
        {AdminRoute::kCreate, R"({"name":"q","credits":"5"})", "\"credits\" must be a whole number"},
        {AdminRoute::kCreate, R"({"name":"q","credits":null})", "\"credits\" must be a whole number"},
        {AdminRoute::kCreate, R"({"name":"q","refill":"5/week"})", "the period is day or month"},
        {AdminRoute::kCreate, R"({"name":"q","refill":"lots"})", "invalid \"refill\""},
        {AdminRoute::kUpdate, R"({"credits":null,"refill":"5/day"})", "cannot go with \"refill\""},
        {AdminRoute::kRotate, R"({"quota":"5/day"})", "unknown member \"quota\""},
    };
    for (const auto& row : rows) {
        KeyChanges c;
        std::string error = parse_key_changes(row.route, row.body, c);
        EXPECT_NE(error.find(row.error), std::string::npos) << row.body << " -> " << error;
    }
}

TEST(AdminQuota, UpdateFields) {
    KeyChanges c;
    c.quota = "10/week";
    c.credits = 7;
    c.refill = "50/day";
    EXPECT_EQ(as_map(quota_fields(c, kNow)),
              (std::map<std::string, std::string>{
                  {"quota", "10/week"}, {"credits", "7"}, {"credits_granted", "7"},
                  {"refill", "50/day"}, {"refilled", std::to_string(kDayStart)}}));

    KeyChanges none;
    none.quota = "";
    none.no_credits = true;
    EXPECT_EQ(as_map(quota_fields(none, kNow)),
              (std::map<std::string, std::string>{
                  {"quota", ""}, {"credits", ""}, {"credits_granted", ""}, {"refill", ""},
                  {"refilled", ""}}));

    KeyChanges stop;
    stop.refill = "";
    EXPECT_EQ(quota_fields(stop, kNow),
              (std::vector<std::string>{"refill", "", "refilled", ""}));

    // nothing given, nothing written: changed_fields keeps only "updated"
    EXPECT_TRUE(quota_fields(KeyChanges{}, kNow).empty());
    auto changed = as_map(changed_fields(c, kNow));
    EXPECT_EQ(changed["credits"], "7");
    EXPECT_EQ(changed["updated"], std::to_string(kNow));
}

TEST(AdminQuota, NewRecord) {
    KeyChanges c;
    c.name = "n";
    c.refill = "1000/month";
    KeyRecord r = new_key_record(c, "abcdefghijkl", "d", "h", kNow);
    // a refill without credits grants its N at once
    EXPECT_EQ(r.credits, 1000);
    EXPECT_EQ(r.credits_granted, 1000);
    EXPECT_EQ(r.refill, "1000/month");
    EXPECT_EQ(r.refilled, kMonthStart);

    c.credits = 5;
    c.quota = "3/day";
    r = new_key_record(c, "abcdefghijkl", "d", "h", kNow);
    EXPECT_EQ(r.credits, 5);
    EXPECT_EQ(r.credits_granted, 5);
    EXPECT_EQ(r.quota, "3/day");

    // none given: none written (the record keeps its old shape)
    KeyChanges plain;
    plain.name = "p";
    r = new_key_record(plain, "abcdefghijkl", "d", "h", kNow);
    for (const auto& [field, value] : record_fields(r)) {
        EXPECT_TRUE(field != "quota" && field != "credits" && field != "credits_granted" &&
                    field != "refill" && field != "refilled" && field != "plan_quota")
            << field;
    }
}

TEST(AdminQuota, RecordRoundTrip) {
    KeyChanges c;
    c.name = "n";
    c.quota = "500/day";
    c.credits = 0;
    c.refill = "9/day";
    KeyRecord in = new_key_record(c, "abcdefghijkl", "d", "h", kNow), out;
    in.plan_quota = "1000/month";
    std::map<std::string, std::string> f;
    for (const auto& [field, value] : record_fields(in)) f[field] = value;
    EXPECT_EQ(f["credits"], "0");   // 0 credits is a value, not "unlimited"
    std::string error;
    ASSERT_TRUE(decode_record(in.id, f, out, error)) << error;
    EXPECT_EQ(out.quota, "500/day");
    EXPECT_EQ(out.plan_quota, "1000/month");
    EXPECT_EQ(out.effective_quota(), "500/day");
    EXPECT_EQ(out.credits, 0);
    EXPECT_EQ(out.credits_granted, 0);
    EXPECT_EQ(out.refill, "9/day");
    EXPECT_EQ(out.refilled, kDayStart);

    std::string json = record_json(out, kNow);
    for (const char* part : {R"("quota":"500/day")", R"("plan_quota":"1000/month")",
                             R"("credits":0)", R"("credits_granted":0)", R"("refill":"9/day")"}) {
        EXPECT_NE(json.find(part), std::string::npos) << part << " in " << json;
    }

    // absent: unlimited, and not in the JSON
    f.erase("credits");
    f.erase("quota");
    ASSERT_TRUE(decode_record(in.id, f, out, error)) << error;
    EXPECT_FALSE(out.credits);
    EXPECT_EQ(out.effective_quota(), "1000/month");
    json = record_json(out, kNow);
    EXPECT_EQ(json.find("\"credits\":"), std::string::npos) << json;
    EXPECT_EQ(json.find("\"quota\":"), std::string::npos) << json;

    for (auto [field, value] : {std::pair<const char*, const char*>{"quota", "5/year"},
                                {"plan_quota", "1/day 2/day"}, {"refill", "5/week"},
                                {"credits", "-1"}, {"credits_granted", "x"}, {"refilled", "1.5"}}) {
        auto bad = f;
        bad[field] = value;
        EXPECT_FALSE(decode_record(in.id, bad, out, error)) << field << "=" << value;
    }
}

TEST(AdminQuota, CliItems) {
    std::string error;
    EXPECT_EQ(checked_quota_items({"500/day", "1000000/month"}, error), "500/day 1000000/month");
    EXPECT_EQ(checked_quota_items({"1/day", "1/week", "1/month"}, error), "1/day 1/week 1/month");
    EXPECT_FALSE(checked_quota_items({"1/day", "2/day"}, error));
    EXPECT_NE(error.find("one quota per period"), std::string::npos) << error;
    EXPECT_FALSE(checked_quota_items({"1/day 2/week"}, error));   // one item per option
    EXPECT_FALSE(checked_quota_items({""}, error));
    EXPECT_FALSE(checked_quota_items({"10/hour"}, error));
    EXPECT_FALSE(checked_quota_items({"1/day", "1/week", "1/month", "2/day"}, error));
}

TEST(AdminQuota, CreditChange) {
    CreditChange c;
    ASSERT_EQ(parse_credit_change(R"({"set":100,"reason":"renewal"})", c), "");
    EXPECT_FALSE(c.add);
    EXPECT_EQ(c.amount, 100);
    EXPECT_EQ(c.reason, "renewal");
    EXPECT_EQ(credit_arguments(c, kNow),
              (std::vector<std::string>{"set", "100", std::to_string(kNow)}));
    ASSERT_EQ(parse_credit_change(R"({"add":-20})", c), "");
    EXPECT_TRUE(c.add);
    EXPECT_EQ(c.amount, -20);
    EXPECT_EQ(credit_arguments(c, 1)[0], "add");

    for (const char* body : {"{}", R"({"set":1,"add":1})", R"({"set":-1})", R"({"set":0.5})",
                             R"({"add":-1000000000001})", R"({"set":"1"})", R"({"to":1})",
                             "[]", "", R"({"add":1,"reason":"a\u0085b"})"}) {
        EXPECT_NE(parse_credit_change(body, c), "") << body;
    }
}

TEST(AdminQuota, PlanQuota) {
    std::string name;
    GroupChanges g;
    ASSERT_EQ(parse_group_changes(AdminRoute::kPlanCreate, R"({"name":"p","quota":"10/day"})",
                                  name, g), "");
    EXPECT_EQ(g.quota, "10/day");
    EXPECT_FALSE(g.value);   // a plan may hold only a quota
    EXPECT_EQ(group_arguments(g, 7),
              (std::vector<std::string>{"", "0", "", "7", "0", "1", "10/day"}));
    ASSERT_EQ(parse_group_changes(AdminRoute::kPlanUpdate, R"({"quota":null})", name, g), "");
    EXPECT_EQ(g.quota, "");
    EXPECT_NE(parse_group_changes(AdminRoute::kPlanCreate, R"({"name":"p"})", name, g), "");
    EXPECT_NE(parse_group_changes(AdminRoute::kPlanCreate, R"({"name":"p","quota":"1/year"})",
                                  name, g), "");
    EXPECT_NE(parse_group_changes(AdminRoute::kRoleCreate,
                                  R"({"name":"r","scopes":["a"],"quota":"1/day"})", name, g), "");
}
