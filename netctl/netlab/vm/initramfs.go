package vm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Initramfs collects the files of a newc cpio archive, the format the
// kernel unpacks into its rootfs (Documentation/driver-api/early-userspace).
type Initramfs struct {
	entries map[string]entry
}

type entry struct {
	mode uint32 // file type and permission bits
	data []byte // file contents
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
)

// NewInitramfs returns an empty archive.
func NewInitramfs() *Initramfs { return &Initramfs{entries: map[string]entry{}} }

// parents adds every parent directory of name.
func (f *Initramfs) parents(name string) {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		f.entries[strings.TrimPrefix(d, "/")] = entry{mode: modeDir | 0o755}
	}
}

// File adds a regular file with its parents.
func (f *Initramfs) File(name string, perm uint32, data []byte) {
	f.parents(name)
	f.entries[strings.TrimPrefix(name, "/")] = entry{mode: modeFile | perm, data: data}
}

// CopyFile adds the host file src as name; symlinks are followed so the
// archive holds the real bytes under the name the loader asks for.
func (f *Initramfs) CopyFile(name, src string, perm uint32) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs %s: %w", name, err)
	}
	f.File(name, perm, b)
	return nil
}

// Dir adds an empty directory with its parents.
func (f *Initramfs) Dir(name string) {
	f.parents(name + "/x")
}

// Has reports whether name is in the archive.
func (f *Initramfs) Has(name string) bool {
	_, ok := f.entries[strings.TrimPrefix(name, "/")]
	return ok
}

// Write emits the archive: parents before children (sorted names), each
// header and body padded to four bytes, and the TRAILER!!! record.
func (f *Initramfs) Write(w io.Writer) error {
	names := make([]string, 0, len(f.entries))
	for n := range f.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	var hdr bytes.Buffer
	ino := 1
	record := func(name string, e entry) {
		nlink := 1
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		hdr.Reset()
		fmt.Fprintf(&hdr, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		hdr.WriteString(name)
		hdr.WriteByte(0)
		hdr.Write(pad(hdr.Len()))
		bw.Write(hdr.Bytes())
		bw.Write(e.data)
		bw.Write(pad(len(e.data)))
	}
	for _, n := range names {
		record(n, f.entries[n])
	}
	record("TRAILER!!!", entry{})
	return bw.Flush()
}

// WriteFile writes the archive to path and returns its size.
func (f *Initramfs) WriteFile(path string) (int64, error) {
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	if err := f.Write(out); err != nil {
		out.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	st, err := out.Stat()
	if err != nil {
		out.Close()
		return 0, err
	}
	return st.Size(), out.Close()
}

// pad is the zeros that bring n up to a multiple of four.
func pad(n int) []byte { return make([]byte, (4-n%4)%4) }
