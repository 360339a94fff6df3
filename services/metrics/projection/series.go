package projection

// series is one list of the history's versions (or its transactions) in
// order of key: the coarse ones kept for day boundaries before the exact
// window, then the exact ones. Coarsening (histbound.go) moves the exact
// log's versions from before the window into the coarse log, or drops
// them, and frees them in the exact log: the cost is that of the versions
// moved, a day's, not the window's.
//
// Indices into exact count the versions it dropped: the first savedExact
// are in the checkpoint, as are the first savedCoarse of coarse, whatever
// is dropped meanwhile.
type series struct {
	coarse vlog
	exact  vlog
	// from is the index in exact of its first version, head that
	// version's key (when from < exact.n).
	from int
	head int64

	savedCoarse, savedExact int
}

func newSeries(width int) series {
	return series{coarse: newVlog(width), exact: newVlog(width)}
}

// add appends v to the exact log.
func (s *series) add(v []int64) {
	if s.from == s.exact.n {
		s.head = v[0]
	}
	s.exact.add(v)
}

// lastEntry returns the last version (the writer's view); false when there
// is none.
func (s *series) lastEntry() ([]int64, bool) {
	if s.exact.n > 0 {
		return s.exact.lastEntry() // coarse versions all came from exact
	}
	return s.coarse.lastEntry()
}

// bytes returns the memory the series' encoded versions take.
func (s *series) bytes() int { return s.coarse.bytes() + s.exact.bytes() }

// len returns how many versions the series holds.
func (s *series) len() int { return s.coarse.n + s.exact.n - s.from }

// at copies into out the last version whose key is at or below key; false
// when there is none.
func (s *series) at(key int64, out []int64) bool {
	if i, ok := s.exact.atIndex(key, out); ok && i >= s.from {
		return true
	}
	return s.coarse.at(key, out)
}

// saved reports whether every version is in the checkpoint.
func (s *series) saved() bool {
	return s.savedCoarse == s.coarse.n && s.savedExact >= s.exact.n
}

// markSaved counts every version saved; markUnsaved none.
func (s *series) markSaved()   { s.savedCoarse, s.savedExact = s.coarse.n, s.exact.n }
func (s *series) markUnsaved() { s.savedCoarse, s.savedExact = 0, 0 }

// take returns the versions not saved yet, as a snapshot the checkpoint
// writer may decode while the series goes on, and counts them saved.
func (s *series) take() seriesTake {
	t := seriesTake{coarse: s.coarse, coarseFrom: s.savedCoarse, exact: s.exact, exactFrom: max(s.savedExact, s.from)}
	s.markSaved()
	return t
}

// seriesTake is a snapshot of the versions of a series not saved yet.
type seriesTake struct {
	coarse, exact         vlog
	coarseFrom, exactFrom int
}

func (t *seriesTake) len() int { return t.coarse.n - t.coarseFrom + t.exact.n - t.exactFrom }

// each calls fn with each version taken, in order; fn must not keep v.
func (t *seriesTake) each(fn func(v []int64)) {
	t.coarse.each(t.coarseFrom, fn)
	t.exact.each(t.exactFrom, fn)
}

// move appends v, the exact version at index i (restamped, for a
// transaction), to the coarse log, and reports whether it was saved.
func (s *series) move(i int, v []int64) (saved bool) {
	s.coarse.add(v)
	if i < s.savedExact {
		s.savedCoarse = s.coarse.n
		return true
	}
	return false
}

// wasSaved reports whether the exact version at index i is in the
// checkpoint.
func (s *series) wasSaved(i int) bool { return i < s.savedExact }

// advance makes the exact log start at index i (its versions before were
// moved or dropped), freeing what it can.
func (s *series) advance(i int, head int64) {
	s.from, s.head = i, head
	s.exact.dropBefore(i)
}

// finishRestore orders what a restore added to the exact log and moves
// its first versions, those coarse says are, into the coarse log;
// everything counts saved.
func (s *series) finishRestore(coarse func(v []int64) bool) {
	s.exact.finish()
	s.coarse = newVlog(s.exact.width)
	s.from = 0
	s.exact.scan(0, func(i int, v []int64) bool {
		if !coarse(v) {
			s.from, s.head = i, v[0]
			return false
		}
		s.coarse.add(v)
		s.from = i + 1
		return true
	})
	s.exact.dropBefore(s.from)
	s.markSaved()
}
