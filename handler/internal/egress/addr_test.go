package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		addr string
		kind Kind
		why  string // a word the reason must hold
	}{
		{"8.8.8.8", Public, ""},
		{"1.1.1.1", Public, ""},
		{"20.190.160.1", Public, ""},
		{"127.0.0.1", Loopback, "loopback"},
		{"127.255.255.254", Loopback, "loopback"},
		{"::1", Loopback, "loopback"},
		{"0.0.0.0", NonPublic, "unspecified"},
		{"0.1.2.3", NonPublic, "this network"},
		{"10.0.0.1", NonPublic, "RFC 1918"},
		{"172.16.0.1", NonPublic, "RFC 1918"},
		{"172.31.255.255", NonPublic, "RFC 1918"},
		{"172.32.0.1", Public, ""},
		{"192.168.1.1", NonPublic, "RFC 1918"},
		{"100.64.0.1", NonPublic, "carrier-grade"},
		{"100.127.255.255", NonPublic, "carrier-grade"},
		{"100.128.0.1", Public, ""},
		{"169.254.169.254", NonPublic, "link-local"},
		{"169.254.0.1", NonPublic, "link-local"},
		{"168.63.129.16", NonPublic, "WireServer"},
		{"192.0.0.8", NonPublic, "IETF"},
		{"192.0.2.1", NonPublic, "documentation"},
		{"192.88.99.1", NonPublic, "6to4"},
		{"198.18.0.1", NonPublic, "benchmarking"},
		{"198.19.255.255", NonPublic, "benchmarking"},
		{"198.51.100.7", NonPublic, "documentation"},
		{"203.0.113.9", NonPublic, "documentation"},
		{"224.0.0.1", NonPublic, "multicast"},
		{"239.255.255.250", NonPublic, "multicast"},
		{"240.0.0.1", NonPublic, "reserved"},
		{"255.255.255.255", NonPublic, "reserved"},
		{"::", NonPublic, "unspecified"},
		{"::ffff:127.0.0.1", NonPublic, "IPv4-mapped"},
		{"::ffff:8.8.8.8", NonPublic, "IPv4-mapped"},
		{"::ffff:169.254.169.254", NonPublic, "IPv4-mapped"},
		{"::127.0.0.1", NonPublic, "IPv4-compatible"},
		{"64:ff9b::7f00:1", NonPublic, "NAT64 form of 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", NonPublic, "NAT64 form of 169.254.169.254"},
		{"64:ff9b::808:808", Public, ""},
		{"64:ff9b:1::808:808", NonPublic, "local-use NAT64"},
		{"2002:7f00:1::1", NonPublic, "6to4 form of 127.0.0.1"},
		{"2002:c0a8:101::1", NonPublic, "6to4 form of 192.168.1.1"},
		{"2002:808:808::1", Public, ""},
		{"2001::1", NonPublic, "Teredo"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", NonPublic, "Teredo"},
		{"2001:2::1", NonPublic, "benchmarking"},
		{"2001:10::1", NonPublic, "ORCHID"},
		{"2001:20::1", NonPublic, "ORCHIDv2"},
		{"2001:db8::1", NonPublic, "documentation"},
		{"3fff::1", NonPublic, "documentation"},
		{"fc00::1", NonPublic, "unique local"},
		{"fd12:3456:789a::1", NonPublic, "unique local"},
		{"fe80::1", NonPublic, "link-local"},
		{"fe80::1%eth0", NonPublic, "zone"},
		{"fec0::1", NonPublic, "site-local"},
		{"ff02::1", NonPublic, "multicast"},
		{"100::1", NonPublic, "discard"},
		{"::2", NonPublic, "IPv4-compatible"},
		{"1::", NonPublic, "2000::/3"},
		{"2606:4700:4700::1111", Public, ""},
		{"2a01:111:f100::1", Public, ""},
		{"2001:4860:4860::8888", Public, ""},
	}
	for _, tc := range cases {
		kind, why := Classify(netip.MustParseAddr(tc.addr))
		if kind != tc.kind || !strings.Contains(why, tc.why) {
			t.Errorf("Classify(%s) = %v %q, want %v with %q", tc.addr, kind, why, tc.kind, tc.why)
		}
	}
	if k, _ := Classify(netip.Addr{}); k != NonPublic {
		t.Errorf("the zero Addr is %v", k)
	}
}
