package vm

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AddLibraries copies bin's ELF interpreter and every DT_NEEDED library (and
// theirs) into the archive: the interpreter under the path bin names, the
// libraries under /lib, where the loader looks. Each is looked up by file
// name in libDirs (a cross sysroot's lib, or the host's multiarch dirs). A
// static binary needs nothing.
func (f *Initramfs) AddLibraries(bin string, libDirs ...string) error {
	interp, err := interpreter(bin)
	if err != nil || interp == "" {
		return err
	}
	find := func(name string) (string, error) {
		for _, d := range libDirs {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s: %s not found in %v", bin, name, libDirs)
	}
	src, err := find(filepath.Base(interp))
	if err != nil {
		return err
	}
	if err := f.CopyFile(interp, src, 0o755); err != nil {
		return err
	}
	todo := []string{bin}
	seen := map[string]bool{}
	for len(todo) > 0 {
		path := todo[0]
		todo = todo[1:]
		lf, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		libs, err := lf.ImportedLibraries()
		lf.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, l := range libs {
			if seen[l] {
				continue
			}
			seen[l] = true
			src, err := find(l)
			if err != nil {
				return err
			}
			if err := f.CopyFile("lib/"+l, src, 0o755); err != nil {
				return err
			}
			todo = append(todo, src)
		}
	}
	return nil
}

// interpreter is bin's PT_INTERP, empty for a static binary.
func interpreter(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", fmt.Errorf("%s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", fmt.Errorf("%s: interpreter: %w", bin, err)
			}
			return strings.TrimRight(string(b), "\x00"), nil
		}
	}
	return "", nil
}
