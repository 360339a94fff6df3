// Package talentctl is the talentreg command-line client.
package talentctl
