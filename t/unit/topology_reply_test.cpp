#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <string>

#include "topology_reply.hpp"

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

std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
std::string integer(long long n) { return ":" + std::to_string(n) + "\r\n"; }
std::string node(const std::string& host, int port) {
    return "*3\r\n" + bulk(host) + integer(port) + bulk("0123abcd");
}

}  // namespace

TEST(TopologyReply, ClusterSlots) {
    // two ranges: the first with a replica, the second from a node that does
    // not know its own address
    Reply r("*2\r\n*4\r\n" + integer(0) + integer(5460) + node("127.0.0.1", 7000) +
            node("127.0.0.1", 7003) + "*3\r\n" + integer(5461) + integer(16383) + node("", 7001));
    std::vector<SlotRange> ranges;
    std::string error;
    ASSERT_TRUE(decode_cluster_slots(r.reply, "10.0.0.9", ranges, error)) << error;
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].first, 0);
    EXPECT_EQ(ranges[0].last, 5460);
    EXPECT_EQ(ranges[0].master, (HostPort{"127.0.0.1", 7000}));
    EXPECT_EQ(ranges[1].master, (HostPort{"10.0.0.9", 7001}));
}

TEST(TopologyReply, ClusterSlotsRejectsNonsense) {
    std::vector<SlotRange> ranges;
    std::string error;
    for (const std::string& resp : {
             std::string("-ERR This instance has cluster support disabled\r\n"),
             std::string("*0\r\n"),
             std::string("+OK\r\n"),
             "*1\r\n*3\r\n" + integer(5) + integer(4) + node("a", 1),
             "*1\r\n*3\r\n" + integer(0) + integer(16384) + node("a", 1),
             "*1\r\n*3\r\n" + integer(0) + integer(1) + node("a", 0),
             "*1\r\n*3\r\n" + bulk("0") + integer(1) + node("a", 1),
             "*1\r\n*2\r\n" + integer(0) + integer(1),
             "*1\r\n*3\r\n" + integer(0) + integer(1) + "*1\r\n" + bulk("a"),
             "*1\r\n*3\r\n" + integer(0) + integer(1) + "*2\r\n" + integer(1) + integer(1),
         }) {
        Reply r(resp);
        EXPECT_FALSE(decode_cluster_slots(r.reply, "h", ranges, error)) << resp;
        EXPECT_FALSE(error.empty());
    }
    EXPECT_FALSE(decode_cluster_slots(nullptr, "h", ranges, error));
}

TEST(TopologyReply, MasterAddress) {
    Reply ok("*2\r\n" + bulk("127.0.0.1") + bulk("6380"));
    auto a = decode_master_address(ok.reply);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, (HostPort{"127.0.0.1", 6380}));
    for (const std::string& resp : {std::string("*-1\r\n"), std::string("$-1\r\n"),
                                    "*2\r\n" + bulk("") + bulk("1"),
                                    "*2\r\n" + bulk("h") + bulk("x"),
                                    "*1\r\n" + bulk("h"),
                                    std::string("-ERR no such master\r\n")}) {
        Reply r(resp);
        EXPECT_FALSE(decode_master_address(r.reply)) << resp;
    }
}
