package content

import (
	"context"
	"hash/fnv"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// Watch re-reads the labs in dir whenever a file under it changes (it
// polls names, sizes and modification times every interval), and hands
// each new course to reload with Load's error. It returns when ctx ends.
// `handson serve --dev` uses it so an author sees an edit on reload.
func Watch(ctx context.Context, dir string, every time.Duration, reload func(*Course, error)) {
	fsys := os.DirFS(dir)
	last := fingerprint(fsys)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := fingerprint(fsys)
		if now == last {
			continue
		}
		last = now
		reload(Load(fsys))
	}
}

// fingerprint sums every file's name, size, mode and modification time.
func fingerprint(fsys fs.FS) uint64 {
	h := fnv.New64a()
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		h.Write([]byte(p + "\x00"))
		if err != nil {
			h.Write([]byte(err.Error()))
			return nil
		}
		if info, err := d.Info(); err == nil {
			h.Write([]byte(strconv.FormatInt(info.Size(), 10) + " " + info.Mode().String() + " " +
				strconv.FormatInt(info.ModTime().UnixNano(), 10) + "\x00"))
		}
		return nil
	})
	return h.Sum64()
}
