package registry

// BackupInfo describes a consistent copy of the registry's database.
type BackupInfo struct {
	// Revision is the last revision the copy holds.
	Revision int64
	// RegistryID is the id of the database copied: revisions are
	// comparable only within one id.
	RegistryID string
	// Size is the copy's length in bytes.
	Size int64
}
