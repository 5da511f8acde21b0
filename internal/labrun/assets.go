package labrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"handson/internal/sandbox"
)

// argBytes is how much of the archive goes into one argument (Linux allows
// 128 KiB), argsPerExec how many arguments one command carries.
const (
	argBytes    = 96 << 10
	argsPerExec = 8
)

// CopyAssets copies the files of assets into the student's home in sb,
// owned by the student. Engines only run commands, so the files travel
// as a gzipped tar, base64 in command arguments, unpacked by the student.
func (r *Runner) CopyAssets(ctx context.Context, sb *sandbox.Sandbox, assets fs.FS) error {
	archive, err := tarball(assets)
	if err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString(archive)
	var id [6]byte
	rand.Read(id[:])
	tmp := "/tmp/handson-assets-" + hex.EncodeToString(id[:])
	run := func(cmd ...string) error {
		res, err := r.Exec.Exec(ctx, sb, sandbox.Command{Cmd: cmd, Timeout: time.Minute})
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("exit %d: %s", res.ExitCode, bytes.TrimSpace(res.Output))
		}
		return nil
	}
	for len(enc) > 0 {
		cmd := []string{"sh", "-c", `f=$1; shift; printf %s "$@" >>"$f"`, "sh", tmp}
		for i := 0; i < argsPerExec && len(enc) > 0; i++ {
			n := min(argBytes, len(enc))
			cmd, enc = append(cmd, enc[:n]), enc[n:]
		}
		if err := run(cmd...); err != nil {
			return err
		}
	}
	return run("sh", "-c", `base64 -d "$1" | tar -xzf - -C /home/student --no-same-owner; s=$?; rm -f "$1"; exit $s`, "sh", tmp)
}

// tarball packs fsys with the student's permissions: folders 0755, files
// 0644, or 0755 when executable.
func tarball(fsys fs.FS) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := time.Now()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mtime := info.ModTime()
		if mtime.IsZero() { // embedded files have none
			mtime = now
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: mtime})
		case d.Type().IsRegular():
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 || strings.HasSuffix(p, ".sh") {
				mode = 0o755
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return fmt.Errorf("%s: not a regular file", p)
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
