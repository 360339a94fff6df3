// Package e2e holds the end-to-end tests: the real binaries as processes,
// driven over HTTP only.
package e2e
