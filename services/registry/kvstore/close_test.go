package kvstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestStore_CloseReturnsEveryConcurrentCall: writers racing with Close
// each get an answer (success or ErrClosed) and never hang; what they were
// told succeeded is in the file.
func TestStore_CloseReturnsEveryConcurrentCall(t *testing.T) {
	needBolt(t)
	for round := 0; round < 10; round++ {
		path := filepath.Join(t.TempDir(), "registry.db")
		s, err := openFile(path, testOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		const writers = 32
		var wg sync.WaitGroup
		acked := make(chan string, 1<<16)
		started := make(chan struct{}, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					if i == 1 {
						started <- struct{}{}
					}
					id := fmt.Sprintf("w%d-%d", w, i)
					if _, _, err := s.CreateEntity(ctx, entity(id), ""); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("create: %v", err)
						}
						return
					}
					acked <- id
				}
			}()
		}
		for w := 0; w < writers; w++ {
			<-started
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: writers still blocked 10 s after Close", round)
		}
		close(acked)
		s, err = openFile(path, testOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for id := range acked {
			if _, err := s.GetEntity(ctx, id); err != nil {
				t.Fatalf("acknowledged %s: %v", id, err)
			}
		}
		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
