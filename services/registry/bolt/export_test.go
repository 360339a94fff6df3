package bolt

// CrashForTest stops d as a killed process would: the commit loop ends, no
// checkpoint is written, the log is left as it is, bbolt's file closed
// without a sync (its commits stay in the page cache, as after a kill).
func (d *DB) CrashForTest() {
	d.abandon.Store(true) // bbolt's open transaction is lost, not committed
	d.closeMu.Do(func() {
		d.queueMu.Lock()
		close(d.closing)
		d.queueMu.Unlock()
	})
	<-d.loopEnd
	if d.log != nil {
		if d.log.busy != nil {
			<-d.log.busy
		}
		_ = d.log.w.Close()
		d.log.unpin()
	}
	_ = d.db.Close()
}
