// Per-key IP allowlists: CIDR parsing, the canonical text stored in a record's
// `allow_ip`, and matching a client address against it.
//
// One address space for both families: an IPv4 address is held as its
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) and an IPv4 prefix /n as /96+n,
// so one comparison serves both and an IPv4 client seen on a dual-stack
// socket as ::ffff:a.b.c.d matches the IPv4 entries written for it.
//
// Canonical text (what apikeyctl writes, what the check script and the cache
// path read): entries separated by single spaces; each entry is the network
// address with its host bits cleared and an explicit prefix; IPv4 in dotted
// decimal, IPv6 in RFC 5952 form (lower case, the longest run of two or more
// zero groups as "::", never dotted), an IPv4-mapped IPv6 network written as
// the IPv4 network it is. Duplicates are dropped, order is kept.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace apikey {

// Most entries one key may list: the list is matched on every request.
inline constexpr std::size_t kMaxAllowIp = 32;

using IpAddress = std::array<std::uint8_t, 16>;  // IPv6, or IPv4-mapped

struct Cidr {
    IpAddress network{};    // host bits cleared
    unsigned bits = 0;      // prefix length over 128 bits (IPv4 /n is 96 + n)
    bool v4 = false;        // written as IPv4
};

// An address without a prefix, as nginx's $remote_addr has it: dotted IPv4 or
// IPv6 text (no zone id, no brackets). Never allocates.
bool parse_ip_address(std::string_view text, IpAddress* out) noexcept;

// One entry: ADDRESS or ADDRESS/PREFIX. Host bits are cleared
// (10.1.2.3/8 is 10.0.0.0/8); a bare address is a single host (/32, /128).
std::optional<Cidr> parse_cidr(std::string_view text) noexcept;

// The canonical text of one entry.
std::string format_cidr(const Cidr& cidr);

// A list as an operator types it (entries separated by spaces and/or commas)
// → its canonical text, or nullopt with `error` saying which entry is wrong.
// An empty list is an error: "no restriction" is the absence of the field.
std::optional<std::string> canonical_cidr_list(std::string_view text, std::string* error);

// True when `addr` lies in `cidr`.
bool cidr_contains(const Cidr& cidr, const IpAddress& addr) noexcept;

// The request-path check: does a canonical list (a record's allow_ip) admit
// the client address text? An empty list admits everyone (no restriction); an
// entry that does not parse admits no one (fail closed: a list that was
// damaged by hand must not open the key to the world). Never allocates.
bool cidr_list_allows(std::string_view list, std::string_view client) noexcept;

// The client address as 32 lower-case hex digits of its 128-bit form, the
// shape the check script compares against; false if `client` is no address.
bool ip_address_hex(std::string_view client, std::array<char, 32>* out) noexcept;

}  // namespace apikey
