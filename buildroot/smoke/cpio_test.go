package smoke

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// initramfs collects the files of a newc cpio archive, the format the
// kernel unpacks into its rootfs (Documentation/driver-api/early-userspace).
type initramfs struct {
	entries map[string]entry
}

type entry struct {
	mode uint32 // file type and permission bits
	data []byte // file contents or symlink target
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
)

func newInitramfs() *initramfs { return &initramfs{entries: map[string]entry{}} }

// dirs adds every parent directory of name.
func (f *initramfs) dirs(name string) {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		f.entries[strings.TrimPrefix(d, "/")] = entry{mode: modeDir | 0o755}
	}
}

func (f *initramfs) file(name string, perm uint32, data []byte) {
	f.dirs(name)
	f.entries[strings.TrimPrefix(name, "/")] = entry{mode: modeFile | perm, data: data}
}

// copyFile adds the host file src as name; symlinks are followed so the
// archive holds the real bytes under the name the loader asks for.
func (f *initramfs) copyFile(name, src string, perm uint32) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs %s: %w", name, err)
	}
	f.file(name, perm, b)
	return nil
}

func (f *initramfs) dir(name string) {
	f.dirs(name + "/x")
}

// write emits the archive: parents before children (sorted names), each
// header and body padded to four bytes, and the TRAILER!!! record.
func (f *initramfs) write(w io.Writer) error {
	names := make([]string, 0, len(f.entries))
	for n := range f.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	ino := 1
	record := func(name string, e entry) {
		nlink := 1
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		fmt.Fprintf(&buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		buf.WriteString(name)
		buf.WriteByte(0)
		pad(&buf)
		buf.Write(e.data)
		pad(&buf)
	}
	for _, n := range names {
		record(n, f.entries[n])
	}
	record("TRAILER!!!", entry{})
	_, err := w.Write(buf.Bytes())
	return err
}

func pad(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}
