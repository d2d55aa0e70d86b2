#include <gtest/gtest.h>

#include "invalidation.hpp"

using namespace apikey;

TEST(Invalidation, OldFormatIsTheIdAlone) {
    auto m = parse_invalidation("0pqllhxq5ihp");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "0pqllhxq5ihp");
    EXPECT_TRUE(m->event.empty());
    EXPECT_EQ(m->published_us, 0);
}

TEST(Invalidation, EventFormatRoundTrips) {
    std::string text = invalidation_message("0pqllhxq5ihp", "ab12-_Z", 1795433489097759);
    EXPECT_EQ(text, "0pqllhxq5ihp ab12-_Z 1795433489097759");
    auto m = parse_invalidation(text);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "0pqllhxq5ihp");
    EXPECT_EQ(m->event, "ab12-_Z");
    EXPECT_EQ(m->published_us, 1795433489097759);
}

TEST(Invalidation, MalformedIsRefused) {
    for (const char *bad : {"", "id ev", "id  1", " ev 1", "id ev x", "id ev -1", "id e/v 1",
                            "id ev 1 2", "id ev 12345678901234567890", "id ev 1x", "id ev -0",
                            "id ev +1"}) {
        EXPECT_FALSE(parse_invalidation(bad)) << bad;
    }
}

TEST(Invalidation, Names) {
    EXPECT_TRUE(valid_instance_name("web-1.example.org:1234"));
    EXPECT_FALSE(valid_instance_name(""));
    EXPECT_FALSE(valid_instance_name("a b"));
    EXPECT_FALSE(valid_instance_name(std::string(129, 'a')));
    EXPECT_TRUE(valid_event_id(new_event_id()));
    EXPECT_NE(new_event_id(), new_event_id());
    EXPECT_EQ(workers_key("apikey:"), "apikey:workers");
    EXPECT_EQ(ack_key("apikey:", "e1"), "apikey:ack:e1");
    EXPECT_EQ(worker_member("web-1:77", 78), "web-1:77:78");
    auto w = split_worker("web-1:77:78");
    EXPECT_EQ(w.instance, "web-1:77");
    EXPECT_EQ(w.pid, "78");
}

TEST(Invalidation, WaitState) {
    auto s = wait_state({"a:1", "a:2", "b:1", "b:2"}, {"a:1", "a:2", "b:1"}, {"a:1", "a:2"});
    EXPECT_EQ(s.confirmed, (std::vector<std::string>{"a:1", "a:2"}));
    EXPECT_EQ(s.pending, (std::vector<std::string>{"b:1"}));
    EXPECT_EQ(s.gone, (std::vector<std::string>{"b:2"}));
    EXPECT_FALSE(s.done());
    // an ack from a worker that stopped right after still counts as confirmed
    s = wait_state({"a:1"}, {}, {"a:1"});
    EXPECT_TRUE(s.done());
    EXPECT_EQ(s.confirmed.size(), 1u);
    EXPECT_TRUE(wait_state({}, {}, {}).done());
}

TEST(Invalidation, LagBuckets) {
    EXPECT_EQ(lag_bucket(-5), 0u);
    EXPECT_EQ(lag_bucket(0), 0u);
    EXPECT_EQ(lag_bucket(1000), 0u);
    EXPECT_EQ(lag_bucket(1001), 1u);
    EXPECT_EQ(lag_bucket(10000000), kLagBuckets - 2);
    EXPECT_EQ(lag_bucket(10000001), kLagBuckets - 1);
}

TEST(Invalidation, WaitTimeout) {
    EXPECT_EQ(*parse_wait_timeout("10", 60000), 10000);
    EXPECT_EQ(*parse_wait_timeout("2s", 60000), 2000);
    EXPECT_EQ(*parse_wait_timeout("1.5", 60000), 1500);
    EXPECT_EQ(*parse_wait_timeout("500ms", 60000), 500);
    EXPECT_EQ(*parse_wait_timeout("1m", 60000), 60000);
    for (const char *bad : {"", "0", "0s", "1m1", "61s", "-1", "1.", ".5", "1.2345", "1h", "x",
                            "1e3", "9999999999"}) {
        EXPECT_FALSE(parse_wait_timeout(bad, 60000)) << bad;
    }
}

TEST(Invalidation, WaitJson) {
    WaitState s = wait_state({"h:1:2", "h:1:3"}, {"h:1:3"}, {"h:1:2"});
    EXPECT_EQ(wait_json(s, 12),
              "{\"confirmed_all\":false,\"confirmed\":[{\"instance\":\"h:1\",\"worker\":\"2\"}],"
              "\"unconfirmed\":[{\"instance\":\"h:1\",\"worker\":\"3\"}],\"gone\":[],"
              "\"elapsed_ms\":12}");
    EXPECT_EQ(with_wait("{\"id\":\"x\"}\n", WaitState{}, 0),
              "{\"id\":\"x\",\"wait\":{\"confirmed_all\":true,\"confirmed\":[],"
              "\"unconfirmed\":[],\"gone\":[],\"elapsed_ms\":0}}");
    EXPECT_EQ(with_wait("{}", WaitState{}, 0).substr(0, 9), "{\"wait\":{");
}
