#include <gtest/gtest.h>

#include "topology.hpp"

using namespace apikey;

TEST(Topology, KeySlotMatchesRedis) {
    // values from CLUSTER KEYSLOT on Redis 7
    EXPECT_EQ(key_slot("foo"), 12182);
    EXPECT_EQ(key_slot("bar"), 5061);
    EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);   // the CRC16/XMODEM check value
    EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
    EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}")) << "empty tag: the whole key";
    EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
    EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    EXPECT_EQ(key_slot("apikey:key:{abcdefghijkl}"),
              key_slot("apikey:bucket:{abcdefghijkl}:default"))
        << "a key's record and buckets share a slot";
}

TEST(Topology, HostPort) {
    auto a = parse_host_port("10.0.0.1:6380");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "10.0.0.1");
    EXPECT_EQ(a->port, 6380);
    EXPECT_EQ(parse_host_port("[::1]:7000")->host, "::1");
    EXPECT_EQ(parse_host_port("redis", 26379)->port, 26379);
    for (const char* bad : {"", ":6379", "host:", "host:0", "host:70000", "host:x", "::1:6379",
                            "[::1", "[]:1"}) {
        EXPECT_FALSE(parse_host_port(bad, 6379)) << bad;
    }
    auto seeds = parse_seed_list("127.0.0.1:7000,127.0.0.1:7001", 0);
    ASSERT_TRUE(seeds);
    EXPECT_EQ(seeds->size(), 2u);
    EXPECT_FALSE(parse_seed_list("127.0.0.1:7000,", 0));
}

TEST(Topology, Redirects) {
    auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
    ASSERT_TRUE(moved);
    EXPECT_FALSE(moved->ask);
    EXPECT_EQ(moved->slot, 3999);
    EXPECT_EQ(moved->to, (HostPort{"127.0.0.1", 6381}));
    auto ask = parse_redirect("ASK 16383 [::1]:7000");
    ASSERT_TRUE(ask);
    EXPECT_TRUE(ask->ask);
    EXPECT_EQ(ask->to.host, "::1");
    auto bare_v6 = parse_redirect("MOVED 5 ::1:7001");
    ASSERT_TRUE(bare_v6);
    EXPECT_EQ(bare_v6->to, (HostPort{"::1", 7001}));
    auto unknown = parse_redirect("MOVED 5 :7001");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->to, (HostPort{"", 7001})) << "the node that answered";
    for (const char* bad : {"MOVED", "MOVED 3999", "MOVED 16384 a:1", "MOVED x a:1",
                            "MOVED 1 a", "ASK  1 a:1", "ERR MOVED 1 a:1", "READONLY x",
                            "MOVED 1 a:0", "MOVED 1 a:x", "MOVED 1 a b:1"}) {
        EXPECT_FALSE(parse_redirect(bad)) << bad;
    }
}

TEST(Topology, SwitchMaster) {
    auto s = parse_switch_master("mymaster 127.0.0.1 6380 127.0.0.1 6381");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name, "mymaster");
    EXPECT_EQ(s->to, (HostPort{"127.0.0.1", 6381}));
    for (const char* bad : {"", "mymaster 127.0.0.1 6380 127.0.0.1", "a b c d 0", "a b c d 70000",
                            "a b c d e f", "a  b c d 1"}) {
        EXPECT_FALSE(parse_switch_master(bad)) << bad;
    }
}

TEST(Topology, NumericHost) {
    EXPECT_TRUE(numeric_host("127.0.0.1"));
    EXPECT_TRUE(numeric_host("::1"));
    EXPECT_FALSE(numeric_host("localhost"));
    EXPECT_FALSE(numeric_host(""));
}
