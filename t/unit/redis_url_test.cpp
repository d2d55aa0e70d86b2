#include <gtest/gtest.h>

#include "redis_url.hpp"

using namespace apikey;

TEST(RedisUrl, PlainAddressesAreNotUrls) {
    std::string error;
    for (const char* plain : {"127.0.0.1:6379", "unix:/run/redis.sock",
                              "sentinel=10.0.0.1,10.0.0.2 master=m", "cluster=10.0.0.1:7000",
                              "redis:/x", "REDIS://x:1"}) {
        EXPECT_FALSE(parse_redis_url(plain, error)) << plain;
    }
}

TEST(RedisUrl, SchemesAndCredentials) {
    struct Case {
        const char* text;
        bool tls;
        bool credentials;
        const char* user;
        const char* password;
        const char* address;
    } cases[] = {
        {"redis://10.0.0.5:6379", false, false, "", "", "10.0.0.5:6379"},
        {"rediss://10.0.0.5:6380", true, false, "", "", "10.0.0.5:6380"},
        {"rediss://10.0.0.5:6380/", true, false, "", "", "10.0.0.5:6380"},
        {"rediss://app:s3cret@10.0.0.5:6380", true, true, "app", "s3cret", "10.0.0.5:6380"},
        {"redis://:s3cret@h:1", false, true, "", "s3cret", "h:1"},
        {"redis://s3cret@h:1", false, true, "", "s3cret", "h:1"},
        {"rediss://a:p@ss@h:1", true, true, "a", "p@ss", "h:1"},
        {"rediss://odd%40user:p%40ss%3Aw%25rd@h:1", true, true, "odd@user", "p@ss:w%rd", "h:1"},
        {"rediss://u:p@cluster=10.0.0.1:7000,10.0.0.2:7000", true, true, "u", "p",
         "cluster=10.0.0.1:7000,10.0.0.2:7000"},
        {"rediss://sentinel=10.0.0.1:26379 master=m", true, false, "", "",
         "sentinel=10.0.0.1:26379 master=m"},
        {"rediss://[::1]:6380", true, false, "", "", "[::1]:6380"},
    };
    for (const auto& c : cases) {
        std::string error;
        auto url = parse_redis_url(c.text, error);
        ASSERT_TRUE(url) << c.text;
        EXPECT_EQ(error, "") << c.text;
        EXPECT_EQ(url->tls, c.tls) << c.text;
        EXPECT_EQ(url->has_credentials, c.credentials) << c.text;
        EXPECT_EQ(url->user, c.user) << c.text;
        EXPECT_EQ(url->password, c.password) << c.text;
        EXPECT_EQ(url->address, c.address) << c.text;
    }
}

TEST(RedisUrl, Invalid) {
    for (const char* bad : {"redis://", "rediss://", "rediss://u:p@", "rediss://u:p%4@h:1",
                            "rediss://u%zz:p@h:1", "redis://u:%@h:1"}) {
        std::string error;
        auto url = parse_redis_url(bad, error);
        ASSERT_TRUE(url) << bad;
        EXPECT_EQ(url->address, "") << bad;
        EXPECT_NE(error, "") << bad;
    }
}
