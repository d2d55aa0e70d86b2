#include <gtest/gtest.h>

#include <string>

#include "cidr.hpp"

using namespace apikey;

struct CanonCase {
    std::string in;
    std::string out;  // "" = refused
};

std::ostream& operator<<(std::ostream& os, const CanonCase& c) { return os << '"' << c.in << '"'; }

class CidrCanon : public ::testing::TestWithParam<CanonCase> {};

TEST_P(CidrCanon, OneEntry) {
    std::string error;
    auto got = canonical_cidr_list(GetParam().in, &error);
    if (GetParam().out.empty()) {
        EXPECT_FALSE(got) << *got;
        EXPECT_FALSE(error.empty());
    } else {
        ASSERT_TRUE(got) << error;
        EXPECT_EQ(*got, GetParam().out);
        // canonical text is a fixed point
        auto again = canonical_cidr_list(*got, &error);
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, *got);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CidrCanon,
    ::testing::Values(
        CanonCase{"203.0.113.0/24", "203.0.113.0/24"},
        CanonCase{"203.0.113.7/24", "203.0.113.0/24"},      // host bits cleared
        CanonCase{"203.0.113.7", "203.0.113.7/32"},          // a bare address is one host
        CanonCase{"0.0.0.0/0", "0.0.0.0/0"},
        CanonCase{"10.255.255.255/8", "10.0.0.0/8"},
        CanonCase{"10.1.2.3/31", "10.1.2.2/31"},
        CanonCase{"2001:db8::/32", "2001:db8::/32"},
        CanonCase{"2001:DB8:0:0:0:0:0:1", "2001:db8::1/128"},  // lower case, "::"
        CanonCase{"2001:0db8:0000:0000:0001:0000:0000:0001/128", "2001:db8::1:0:0:1/128"},  // first longest run
        CanonCase{"2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128"},  // one zero group stays
        CanonCase{"2001:db8:abcd:1234::/48", "2001:db8:abcd::/48"},
        CanonCase{"::/0", "::/0"},
        CanonCase{"::1", "::1/128"},
        CanonCase{"1::", "1::/128"},
        CanonCase{"fe80::1:2/64", "fe80::/64"},
        CanonCase{"::ffff:192.0.2.1", "192.0.2.1/32"},        // IPv4-mapped is IPv4
        CanonCase{"::ffff:192.0.2.1/120", "192.0.2.0/24"},
        CanonCase{"::ffff:0:0/95", "::fffe:0:0/95"},
        CanonCase{"10.0.0.0/8, 2001:db8::/32", "10.0.0.0/8 2001:db8::/32"},
        CanonCase{"  10.0.0.1/8 10.2.3.4/8,,192.0.2.1 ", "10.0.0.0/8 192.0.2.1/32"},  // duplicates go
        // refused
        CanonCase{"", ""},
        CanonCase{" , ", ""},
        CanonCase{"10.0.0.0/33", ""},
        CanonCase{"10.0.0.0/", ""},
        CanonCase{"10.0.0.0/-1", ""},
        CanonCase{"10.0.0.0/08", ""},
        CanonCase{"10.0.0.0/+8", ""},
        CanonCase{"10.0.0", ""},
        CanonCase{"10.0.0.256", ""},
        CanonCase{"010.0.0.1", ""},
        CanonCase{"10.0.0.1/8/8", ""},
        CanonCase{"2001:db8::/129", ""},
        CanonCase{"2001:db8:::1", ""},
        CanonCase{"fe80::1%eth0", ""},
        CanonCase{"[::1]", ""},
        CanonCase{"example.com", ""},
        CanonCase{"none", ""},
        CanonCase{std::string("10.0.0.1\0/8", 11), ""}));

TEST(Cidr, AtMost32Entries) {
    std::string list, error;
    for (int i = 0; i < 32; i++) list += "10.0.0." + std::to_string(i) + " ";
    EXPECT_TRUE(canonical_cidr_list(list, &error));
    list += "10.0.1.0/24";
    EXPECT_FALSE(canonical_cidr_list(list, &error));
    EXPECT_NE(error.find("32"), std::string::npos);
}

struct AllowCase {
    std::string list;
    std::string client;
    bool allowed;
};

std::ostream& operator<<(std::ostream& os, const AllowCase& c) {
    return os << '"' << c.client << "\" in \"" << c.list << '"';
}

class CidrAllow : public ::testing::TestWithParam<AllowCase> {};

TEST_P(CidrAllow, Matches) {
    EXPECT_EQ(cidr_list_allows(GetParam().list, GetParam().client), GetParam().allowed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CidrAllow,
    ::testing::Values(
        AllowCase{"", "192.0.2.1", true},                        // no list: anyone
        AllowCase{"203.0.113.0/24", "203.0.113.9", true},
        AllowCase{"203.0.113.0/24", "203.0.114.9", false},
        AllowCase{"203.0.113.0/25", "203.0.113.127", true},
        AllowCase{"203.0.113.0/25", "203.0.113.128", false},
        AllowCase{"127.0.0.1/32", "127.0.0.1", true},
        AllowCase{"127.0.0.1/32", "127.0.0.2", false},
        AllowCase{"0.0.0.0/0", "198.51.100.1", true},
        AllowCase{"0.0.0.0/0", "2001:db8::1", false},            // IPv4 "any" is not IPv6
        AllowCase{"::/0", "2001:db8::1", true},
        AllowCase{"::/0", "192.0.2.1", true},                    // all of IPv6 holds mapped IPv4
        AllowCase{"2001:db8::/32", "2001:db8:ffff::1", true},
        AllowCase{"2001:db8::/32", "2001:db9::1", false},
        AllowCase{"2001:db8::/33", "2001:db8:7fff::1", true},
        AllowCase{"2001:db8::/33", "2001:db8:8000::1", false},
        AllowCase{"::1/128", "::1", true},
        AllowCase{"192.0.2.0/24", "::ffff:192.0.2.7", true},     // dual-stack socket
        AllowCase{"10.0.0.0/8 2001:db8::/32", "2001:db8::5", true},
        AllowCase{"10.0.0.0/8 2001:db8::/32", "10.9.9.9", true},
        AllowCase{"10.0.0.0/8 2001:db8::/32", "11.0.0.1", false},
        AllowCase{"10.0.0.0/8", "", false},                       // no client address
        AllowCase{"10.0.0.0/8", "unix:", false},                  // a unix socket client
        AllowCase{"garbage", "10.0.0.1", false},                  // fail closed
        AllowCase{"garbage 10.0.0.0/8", "10.0.0.1", true}));

TEST(Cidr, Hex) {
    std::array<char, 32> hex;
    ASSERT_TRUE(ip_address_hex("192.0.2.1", &hex));
    EXPECT_EQ(std::string(hex.data(), 32), "00000000000000000000ffffc0000201");
    ASSERT_TRUE(ip_address_hex("2001:db8::1", &hex));
    EXPECT_EQ(std::string(hex.data(), 32), "20010db8000000000000000000000001");
    EXPECT_FALSE(ip_address_hex("nope", &hex));
}
