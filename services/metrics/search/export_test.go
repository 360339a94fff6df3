package search

// SetOrderedMin lowers the length from which posting lists are kept in
// rank order, so that a test's small index has ordered lists; it returns
// the function restoring it.
func SetOrderedMin(n int) (restore func()) {
	old := orderedMin
	orderedMin = n
	return func() { orderedMin = old }
}
