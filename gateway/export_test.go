package gateway

import "context"

// SetLookupHost replaces the host name resolver for a test and returns the
// function that restores it.
func SetLookupHost(f func(ctx context.Context, host string) ([]string, error)) (restore func()) {
	old := lookupHost
	lookupHost = f
	return func() { lookupHost = old }
}
