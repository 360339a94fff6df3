package bolt

import (
	"context"
	"io"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry/kv"
)

// WriteSnapshot implements kv.SnapshotWriter: a consistent copy of the
// whole file, as of one read transaction, while writers go on. begin sees
// that transaction's data first (to say what the copy holds) and is told
// the copy's size; an error from begin or w, or the end of ctx, stops the
// copy and is returned.
func (d *DB) WriteSnapshot(ctx context.Context, begin func(r kv.Reader, size int64) error, w io.Writer) error {
	return d.View(ctx, func(r kv.Reader) error {
		btx := r.(*reader).btx
		if err := begin(r, btx.Size()); err != nil {
			return err
		}
		cw := &ctxWriter{ctx: ctx, w: w}
		_, err := btx.WriteTo(cw)
		if cw.err != nil {
			return cw.err // bbolt's error keeps only its text
		}
		return err
	})
}

// ctxWriter fails its writes once ctx has ended, so a copy stops soon
// after its caller has gone, and keeps the first error.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	err error
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if c.err == nil {
		c.err = c.ctx.Err()
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// CheckPages runs bbolt's own consistency check of the file's pages.
func (d *DB) CheckPages() []error {
	if err := d.awaitVisible(context.Background()); err != nil {
		return []error{err}
	}
	var errs []error
	_ = d.db.View(func(btx *bbolt.Tx) error {
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	return errs
}
