package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// compactTxSize bounds the data one transaction of the copy carries, so a
// large store is copied in bounded memory.
const compactTxSize = 16 << 20

// CompactResult is what Compact did.
type CompactResult struct {
	Before, After int64 // file sizes in bytes
}

// Compact rewrites the store at path without its free pages: it copies
// every bucket, key and bucket sequence into a new file beside it (bbolt's
// Compact), checks that the copy holds as many keys with the same
// sequences, syncs it, gives it the original's mode and owner, and renames
// it over the original. The original is never written to, so a failure at
// any point leaves it as it was.
//
// It is an offline operation: it holds the store's lock throughout and
// fails with ErrLocked when a running daemon (or anything else) holds it
// for longer than lockTimeout. Stop the daemon first, and do not start it
// until Compact returns: a daemon that opened the file just before the
// rename would be left with the old copy.
func Compact(path string, lockTimeout time.Duration) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return res, fmt.Errorf("compact: %s is not a regular file", path)
	}
	res.Before = fi.Size()
	// Read-only: a shared lock, which a daemon's exclusive lock excludes
	// either way, and the original cannot be changed by accident.
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return res, fmt.Errorf("compact %s: %w", path, ErrLocked)
	}
	if err != nil {
		return res, fmt.Errorf("compact: open %s: %w", path, err)
	}
	defer src.Close()

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".compact-*")
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	// The copy is synced once at the end, not at each of its commits. Its
	// options are the daemon's (state.Open), so the daemon opens it as it
	// would have opened the original.
	dst, err := bolt.Open(tmpName, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("compact: create %s: %w", tmpName, err)
	}
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		dst.Close()
		return res, fmt.Errorf("compact: copy: %w", err)
	}
	if err := sameContent(src, dst); err != nil {
		dst.Close()
		return res, fmt.Errorf("compact: the copy differs from the original, which is left as it was: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return res, fmt.Errorf("compact: sync: %w", err)
	}
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("compact: close copy: %w", err)
	}
	if err := syncFile(tmpName); err != nil {
		return res, fmt.Errorf("compact: sync: %w", err)
	}
	if err := os.Chmod(tmpName, fi.Mode().Perm()); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	if err := sameOwner(tmpName, fi); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	done = true
	if err := syncFile(dir); err != nil {
		return res, fmt.Errorf("compact: sync directory %s: %w", dir, err)
	}
	if nfi, err := os.Stat(path); err == nil {
		res.After = nfi.Size()
	}
	return res, nil
}

// sameContent checks that dst has the top-level buckets of src, each with
// as many keys and the same sequence (command and dead-letter ids, journal
// numbers must never be reused).
func sameContent(src, dst *bolt.DB) error {
	return src.View(func(stx *bolt.Tx) error {
		return dst.View(func(dtx *bolt.Tx) error {
			return stx.ForEach(func(name []byte, sb *bolt.Bucket) error {
				db := dtx.Bucket(name)
				if db == nil {
					return fmt.Errorf("bucket %s missing", name)
				}
				if s, d := sb.Sequence(), db.Sequence(); s != d {
					return fmt.Errorf("bucket %s: sequence %d, want %d", name, d, s)
				}
				if s, d := sb.Stats().KeyN, db.Stats().KeyN; s != d {
					return fmt.Errorf("bucket %s: %d keys, want %d", name, d, s)
				}
				// Spot-check the last key and value: the copy is in order.
				sk, sv := sb.Cursor().Last()
				dk, dv := db.Cursor().Last()
				if !bytes.Equal(sk, dk) || !bytes.Equal(sv, dv) {
					return fmt.Errorf("bucket %s: last key %q, want %q", name, dk, sk)
				}
				return nil
			})
		})
	})
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sameOwner gives the file at path the owner and group of orig, where the
// platform has them (Unix), so that a store compacted by root still opens
// for the service's user.
func sameOwner(path string, orig os.FileInfo) error {
	uid, gid, ok := fileOwner(orig)
	if !ok {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if nuid, ngid, ok := fileOwner(fi); ok && nuid == uid && ngid == gid {
		return nil
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("cannot give the compacted store the owner of the original (uid %d, gid %d); run compact as that user or as root: %w", uid, gid, err)
	}
	return nil
}

// fileOwner reads the owner from the platform's stat record (a
// *syscall.Stat_t on Unix), without naming a type that exists only on some
// platforms.
func fileOwner(fi os.FileInfo) (uid, gid int, ok bool) {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, 0, false
	}
	u, g := v.Elem().FieldByName("Uid"), v.Elem().FieldByName("Gid")
	if !u.IsValid() || !g.IsValid() || !u.CanUint() || !g.CanUint() {
		return 0, 0, false
	}
	return int(u.Uint()), int(g.Uint()), true
}
