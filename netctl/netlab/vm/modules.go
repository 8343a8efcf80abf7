package vm

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// ModuleIndex maps a module name (virtio_net) to its .ko file under a
// kernel's lib/modules/<version> tree.
func ModuleIndex(root string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			name := strings.ReplaceAll(strings.TrimSuffix(d.Name(), ".ko"), "-", "_")
			idx[name] = p
		}
		return nil
	})
	return idx, err
}

// modinfo reads the NUL-separated key=value fields of a module's .modinfo
// section, what depmod reads (the Debian package ships no modules.dep).
func modinfo(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", ko)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: .modinfo: %w", ko, err)
	}
	return strings.Split(string(data), "\x00"), nil
}

// moduleDepends returns what must be loaded before ko: its depends= list
// and the "pre:" part of its softdep= (libcrc32c wants the crc32c cipher).
func moduleDepends(ko string) ([]string, error) {
	fields, err := modinfo(ko)
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, f := range fields {
		if v, ok := strings.CutPrefix(f, "depends="); ok && v != "" {
			deps = append(deps, strings.Split(v, ",")...)
		}
		if v, ok := strings.CutPrefix(f, "softdep="); ok {
			pre := false
			for _, w := range strings.Fields(v) {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						deps = append(deps, w)
					}
				}
			}
		}
	}
	return deps, nil
}

// resolveAlias finds the module that declares alias=name (crc32c is the
// alias of crc32c_generic), scanning every module once.
func resolveAlias(idx map[string]string, aliases *map[string]string, name string) (string, bool) {
	if *aliases == nil {
		*aliases = map[string]string{}
		for mod, ko := range idx {
			fields, err := modinfo(ko)
			if err != nil {
				continue
			}
			for _, f := range fields {
				if a, ok := strings.CutPrefix(f, "alias="); ok {
					(*aliases)[a] = mod
				}
			}
		}
	}
	mod, ok := (*aliases)[name]
	return mod, ok
}

// LoadOrder returns the .ko files for want and everything they depend on,
// dependencies first, each once: the order insmod needs. A name that is not
// a module is taken as built into the kernel.
func LoadOrder(idx map[string]string, want []string) ([]string, error) {
	var order []string
	var aliases map[string]string
	seen := map[string]bool{}
	var visit func(name string, depth int) error
	visit = func(name string, depth int) error {
		name = strings.ReplaceAll(name, "-", "_")
		if seen[name] {
			return nil
		}
		seen[name] = true
		ko, ok := idx[name]
		if !ok {
			mod, ok := resolveAlias(idx, &aliases, name)
			if !ok || seen[mod] {
				return nil
			}
			seen[mod] = true
			ko = idx[mod]
		}
		if depth > 32 {
			return fmt.Errorf("module %s: dependency chain too deep", name)
		}
		deps, err := moduleDepends(ko)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		order = append(order, ko)
		return nil
	}
	for _, w := range want {
		if err := visit(w, 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// AddModules copies the modules of want and their dependencies from the
// kernel's module tree into the archive's /lib/modules, flat, and returns
// their file names in load order. A name that is no module (built in, or
// absent from this kernel) is left out; the guest finds out when it uses it.
func (f *Initramfs) AddModules(tree string, want []string) ([]string, error) {
	idx, err := ModuleIndex(tree)
	if err != nil {
		return nil, err
	}
	order, err := LoadOrder(idx, want)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(order))
	for _, ko := range order {
		name := filepath.Base(ko)
		if err := f.CopyFile("lib/modules/"+name, ko, 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}
