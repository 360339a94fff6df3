// Package bench is the talentreg benchmark harness.
package bench
