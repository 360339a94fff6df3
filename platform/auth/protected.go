package auth

import (
	"fmt"
	"net"
	"net/netip"
)

// Loopback reports whether a listen address only accepts local
// connections: its host is "localhost" or a loopback IP. An empty host
// (":9090") or an unspecified one (0.0.0.0, [::]) listens everywhere.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ProtectedMode refuses to serve without authentication beyond this
// machine, as Redis' protected mode does: without --auth-config, every
// listen address must be loopback unless --insecure-no-auth is given.
// addrs maps each listen flag to its value; empty values (a disabled
// listener) are skipped.
func ProtectedMode(authConfigured, insecure bool, addrs map[string]string) error {
	if authConfigured || insecure {
		return nil
	}
	for flag, addr := range addrs {
		if addr != "" && !Loopback(addr) {
			return fmt.Errorf("refusing to listen on --%s %s without authentication: give --auth-config FILE "+
				"(`talentctl auth dev-config` writes one), listen on a loopback address, or pass --insecure-no-auth "+
				"to serve everyone without authentication", flag, addr)
		}
	}
	return nil
}
