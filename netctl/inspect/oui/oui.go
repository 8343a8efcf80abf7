// Package oui names the maker of a network card from the first three bytes
// of its MAC address, from a compact subset of the IEEE registry that is
// compiled into the binary (table.go, made by gen.go from Debian's
// ieee-data). The subset keeps the vendors a store LAN holds: card
// terminals, receipt printers, scanners, PCs, phones, network gear.
package oui

//go:generate go run gen.go

import (
	"net"
	"sort"
)

// DebianCSV is where Debian's ieee-data package keeps the MA-L registry.
const DebianCSV = "/usr/share/ieee-data/oui.csv"

// Lookup returns the vendor of mac, or "" when the prefix is not in the
// subset, the address is too short, or it is locally administered (random
// MACs of phones and VMs carry no vendor).
func Lookup(mac net.HardwareAddr) string {
	if len(mac) < 3 {
		return ""
	}
	return Lookup3([3]byte{mac[0], mac[1], mac[2]})
}

// Lookup3 is Lookup on the three prefix bytes.
func Lookup3(p [3]byte) string {
	if p[0]&0x02 != 0 { // locally administered
		return ""
	}
	key := uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
	i := sort.Search(len(prefixes), func(i int) bool { return prefixes[i] >= key })
	if i < len(prefixes) && prefixes[i] == key {
		return vendors[vendorOf[i]]
	}
	return ""
}

// Len is the number of prefixes in the built-in subset.
func Len() int { return len(prefixes) }
