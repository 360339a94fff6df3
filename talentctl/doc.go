// Package talentctl is the talentreg command-line client and the Binhai
// demo data set. The module holds one package per job:
//
//   - cmd/talentctl: the binary; it only calls cli.Run.
//   - cli: the cobra commands (get, list, create, delete, summary,
//     breakdown, stats, import, demo), output as tables or JSON, exit codes.
//   - importer: streams resources into the registry's Import call in
//     chunks, from memory or from files, and maps every rejected item back
//     to its file, line and column.
//   - layout: the import file column layout, row ↔ resource.
//   - rowfile: CSV, JSON Lines and XLSX rows, refusing unreadable files.
//   - demo: the deterministic Binhai 2024 data set and its figures.
//   - creditcode: GB 32100-2015 unified social credit codes.
//   - internal/stack: runs the real registry and metrics for tests.
//
// talentctl talks to the services over gRPC only; it never imports their
// packages.
package talentctl
