package projection

// SetBeforeRead makes fn run in every read of l between its wait for the
// minimum revision and the read itself.
func SetBeforeRead(l *Live, fn func()) { l.beforeRead = fn }
