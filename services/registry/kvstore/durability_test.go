//go:build unix

package kvstore

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
)

// durabilityChildEnv names the database file the child process of
// TestStore_AcknowledgedWritesSurviveSIGKILL writes to.
const durabilityChildEnv = "TALENTREG_TEST_DURABILITY_CHILD_DB"

// durabilityWALEnv turns the write-ahead log on in the child.
const durabilityWALEnv = "TALENTREG_TEST_DURABILITY_WAL"

// TestDurabilityChild is not a test: re-executed by
// TestStore_AcknowledgedWritesSurviveSIGKILL with durabilityChildEnv set,
// it writes from several goroutines until it is killed, printing one line
// per write after the call has returned (acknowledged):
//
//	create entities/x          the entity is durable
//	create talentRecords/y     the record (subject: the last entity) is durable
//	intent entities/x          a force delete of x is about to be sent
//	delete entities/x          the delete (and its cascade) is durable
//
// Without the variable it returns at once.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(durabilityChildEnv)
	if path == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	s, err := openFile(path, testOptions{WAL: os.Getenv(durabilityWALEnv) == "1"})
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	say := func(verb, name string) {
		mu.Lock()
		defer mu.Unlock()
		// Unbuffered: the line is in the pipe before the next write starts.
		if _, err := fmt.Fprintf(os.Stdout, "%s %s\n", verb, name); err != nil {
			os.Exit(4)
		}
	}
	const workers = 8
	deadline := time.Now().Add(2 * time.Minute) // the parent kills us long before
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				e := entity(id)
				e.CreditCode = creditCode(fmt.Sprintf("91120116%09d", w*100_000_000+i))
				e.Industries = []string{"aerospace", fmt.Sprintf("ind-%d", i%7)}
				if _, _, err := s.CreateEntity(ctx, e, ""); err != nil {
					fail(err)
				}
				say("create", e.Name())
				if i%5 == 4 {
					r := &registry.TalentRecord{ID: "r" + id, Subject: e.Name(), Category: registry.TalentCategoryGathered, Count: 3, Period: "2024"}
					if _, _, err := s.CreateTalentRecord(ctx, r, ""); err != nil {
						fail(err)
					}
					say("create", r.Name())
				}
				if i%9 == 8 {
					victim := fmt.Sprintf("w%d-%d", w, i-i%5-1) // has a talent record
					say("intent", registry.EntityName(victim))
					if _, err := s.DeleteEntity(ctx, victim, "", true); err != nil {
						fail(err)
					}
					say("delete", registry.EntityName(victim))
				}
			}
		}()
	}
	wg.Wait()
	fail(errors.New("was not killed"))
}

// TestStore_AcknowledgedWritesSurviveSIGKILL kills a writing process
// mid-stream and reopens its file: every acknowledged write is there,
// every acknowledged delete is gone, the indexes are consistent and the
// change log ends at the stored revision.
func TestStore_AcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	needBolt(t)
	t.Run("fsync", func(t *testing.T) { testSurviveSIGKILL(t, false) })
	t.Run("wal", func(t *testing.T) { testSurviveSIGKILL(t, true) })
}

func testSurviveSIGKILL(t *testing.T, wal bool) {
	path := filepath.Join(t.TempDir(), "registry.db")
	env := []string{durabilityChildEnv + "=" + path}
	if wal {
		env = append(env, durabilityWALEnv+"=1")
	}
	cmd, stdout, stderr := startChild(t, "TestDurabilityChild", env...)

	const killAfter = 300
	created := map[string]bool{}  // acknowledged creates
	deleted := map[string]bool{}  // acknowledged deletes
	intended := map[string]bool{} // deletes that may or may not have happened
	subjects := map[string]string{}
	acks, killed := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		verb, name, ok := strings.Cut(sc.Text(), " ")
		switch {
		case !ok:
			continue
		case verb == "create":
			created[name] = true
			acks++
		case verb == "intent":
			intended[name] = true
		case verb == "delete":
			deleted[name] = true
			acks++
		default:
			continue // test framework output
		}
		if acks >= killAfter && !killed {
			// Mid-stream: the other writers are inside CreateEntity.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		// Keep reading after the kill: lines already in the pipe were
		// printed after their call returned, so they are acknowledged too.
	}
	err := cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements: %v\n%s", acks, err, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL\n%s", err, stderr.String())
	}
	for name := range created {
		if id, ok := strings.CutPrefix(name, "talentRecords/r"); ok {
			subjects[name] = registry.EntityName(id)
		}
	}
	t.Logf("%d acknowledgements, %d creates, %d deletes before the kill landed", acks, len(created), len(deleted))

	s, err := openFile(path, testOptions{WAL: wal})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("consistency check after SIGKILL: %v", err)
	}
	exists := func(name string) bool {
		var err error
		if id, ok := strings.CutPrefix(name, "entities/"); ok {
			_, err = s.GetEntity(ctx, id)
		} else {
			_, err = s.GetTalentRecord(ctx, strings.TrimPrefix(name, "talentRecords/"))
		}
		if err != nil && registry.ErrorCode(err) != registry.CodeNotFound {
			t.Fatalf("get %s: %v", name, err)
		}
		return err == nil
	}
	lost := 0
	for name := range created {
		owner := name
		if subj, ok := subjects[name]; ok {
			owner = subj // a record goes with its subject's cascade delete
		}
		switch got := exists(name); {
		case deleted[owner] && got:
			t.Errorf("%s exists, but the delete of %s was acknowledged", name, owner)
		case !intended[owner] && !got:
			lost++
			t.Errorf("%s was acknowledged but is missing", name)
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	// The change log ends exactly at the stored revision.
	rev := s.Revision()
	page, err := s.ListChanges(ctx, rev, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rev < int64(acks) || len(page.Changes) != 1 || page.Changes[0].Revision != rev || page.More || page.Revision != rev {
		t.Fatalf("revision %d (%d acknowledged writes); log from it: %d changes, more=%t, page revision %d", rev, acks, len(page.Changes), page.More, page.Revision)
	}
	// And the store goes on from there.
	_, next, err := s.CreateEntity(ctx, entity("after-crash"), "")
	if err != nil || next != rev+1 {
		t.Fatalf("create after reopen: revision %d, %v; want %d", next, err, rev+1)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpen_RefusesBadFilesUntouched: a corrupt file, a foreign bbolt file
// and a locked empty file are refused with a clear error, and not one byte
// of them changes.
func TestOpen_RefusesBadFilesUntouched(t *testing.T) {
	needBolt(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		check   func(err error) bool
		want    string
	}{
		{
			name: "corrupt",
			prepare: func(t *testing.T, path string) {
				b := make([]byte, 64<<10)
				_, _ = rand.Read(b)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			check: func(err error) bool { return strings.Contains(err.Error(), "corrupt") },
			want:  `an error saying "corrupt"`,
		},
		{
			name: "foreign bbolt file",
			prepare: func(t *testing.T, path string) {
				db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				err = db.Update(func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte("other"))
					if err != nil {
						return err
					}
					return b.Put([]byte("k"), []byte("v"))
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			},
			check: func(err error) bool { return errors.Is(err, ErrForeign) },
			want:  "ErrForeign",
		},
		{
			name: "empty file locked by another holder",
			prepare: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				// flock locks belong to the open file, so this conflicts with
				// bbolt's lock even within one process.
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
			},
			check: func(err error) bool { return errors.Is(err, bolt.ErrLocked) },
			want:  "ErrLocked",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.db")
			tt.prepare(t, path)
			before, _ := os.Stat(path)
			sum := fileSum(t, path)
			for attempt := 0; attempt < 2; attempt++ { // a failed Open leaves no lock behind
				s, err := openFile(path, testOptions{Timeout: 200 * time.Millisecond})
				if err == nil {
					s.Close()
					t.Fatalf("Open succeeded, want %s", tt.want)
				}
				if !tt.check(err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open: %v, want %s naming the file", err, tt.want)
				}
			}
			after, _ := os.Stat(path)
			if fileSum(t, path) != sum || after.Size() != before.Size() || after.Mode() != before.Mode() {
				t.Fatalf("the file changed: size %d → %d, mode %v → %v", before.Size(), after.Size(), before.Mode(), after.Mode())
			}
		})
	}
}

// TestOpen_SecondOpenFailsFastWithErrLocked: a second opener of a file in
// use gets ErrLocked within the lock timeout, and the first is unharmed.
func TestOpen_SecondOpenFailsFastWithErrLocked(t *testing.T) {
	needBolt(t)
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, entity("first"))
	start := time.Now()
	s2, err := openFile(path, testOptions{}) // default timeout: 1 s
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, bolt.ErrLocked) || elapsed > 2*time.Second {
		t.Fatalf("second Open: %v after %v, want ErrLocked within 2 s", err, elapsed)
	}
	mustCreate(t, s, entity("second"))
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
