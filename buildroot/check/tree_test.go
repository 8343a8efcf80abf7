package check

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	tree     = ".."    // the external tree
	repoRoot = "../.." // the Go module it builds
)

var boards = []string{"x86_64", "rpi4"}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// defconfig reads a defconfig into symbol -> value ("n" for "is not set").
func defconfig(t *testing.T, path string) map[string]string {
	t.Helper()
	syms := map[string]string{}
	unset := regexp.MustCompile(`^# (BR2_\w+) is not set$`)
	sc := bufio.NewScanner(strings.NewReader(read(t, path)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := unset.FindStringSubmatch(line); m != nil {
			syms[m[1]] = "n"
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "BR2_") {
			t.Errorf("%s:%d: not a defconfig line: %q", path, n, line)
			continue
		}
		syms[k] = v
	}
	return syms
}

func defconfigs(t *testing.T) map[string]map[string]string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(tree, "configs", "*_defconfig"))
	if len(paths) != len(boards) {
		t.Fatalf("want a defconfig per board %v, found %v", boards, paths)
	}
	out := map[string]map[string]string{}
	for _, p := range paths {
		out[filepath.Base(p)] = defconfig(t, p)
	}
	return out
}

// treeSymbols are the config symbols the external tree defines.
func treeSymbols(t *testing.T) map[string]bool {
	t.Helper()
	def := regexp.MustCompile(`(?m)^\s*(?:menu)?config\s+(BR2_\w+)\s*$`)
	syms := map[string]bool{}
	err := filepath.Walk(tree, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && strings.HasPrefix(info.Name(), "Config.in") {
			for _, m := range def.FindAllStringSubmatch(read(t, p), -1) {
				syms[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return syms
}

func TestDefconfigSymbolsExist(t *testing.T) {
	ours := treeSymbols(t)
	for name, syms := range defconfigs(t) {
		var unknown []string
		for s := range syms {
			if !ours[s] && !buildrootSymbols[s] {
				unknown = append(unknown, s)
			}
		}
		sort.Strings(unknown)
		for _, s := range unknown {
			t.Errorf("%s: %s is neither defined in the tree nor a known Buildroot symbol (typo? or add it to buildrootSymbols after checking Buildroot's Config.in)", name, s)
		}
		if syms["BR2_PACKAGE_GATEWAYD"] != "y" {
			t.Errorf("%s: BR2_PACKAGE_GATEWAYD is not enabled", name)
		}
		if syms["BR2_INIT_SYSTEMD"] != "y" {
			t.Errorf("%s: gatewayd needs BR2_INIT_SYSTEMD=y", name)
		}
	}
}

// TestDefconfigPathsExist: every file a defconfig names inside the tree is
// there, so a renamed overlay or fragment fails here, not in a 2-hour build.
func TestDefconfigPathsExist(t *testing.T) {
	ref := regexp.MustCompile(`\$\(BR2_EXTERNAL_BRANCHGW_PATH\)/([^ "]+)`)
	for name, syms := range defconfigs(t) {
		for sym, v := range syms {
			for _, m := range ref.FindAllStringSubmatch(v, -1) {
				if _, err := os.Stat(filepath.Join(tree, m[1])); err != nil {
					t.Errorf("%s: %s names %s: %v", name, sym, m[1], err)
				}
			}
		}
	}
}

func TestExternalDescribesTree(t *testing.T) {
	desc := read(t, filepath.Join(tree, "external.desc"))
	if !regexp.MustCompile(`(?m)^name: BRANCHGW$`).MatchString(desc) {
		t.Errorf("external.desc must say name: BRANCHGW (the defconfigs use $(BR2_EXTERNAL_BRANCHGW_PATH)):\n%s", desc)
	}
	cfg := read(t, filepath.Join(tree, "Config.in"))
	pkgs, _ := filepath.Glob(filepath.Join(tree, "package", "*", "Config.in"))
	if len(pkgs) == 0 {
		t.Fatal("no package/*/Config.in")
	}
	for _, p := range pkgs {
		rel, _ := filepath.Rel(tree, p)
		if !strings.Contains(cfg, `source "$BR2_EXTERNAL_BRANCHGW_PATH/`+filepath.ToSlash(rel)+`"`) {
			t.Errorf("Config.in does not source %s", rel)
		}
	}
	if mk := read(t, filepath.Join(tree, "external.mk")); !strings.Contains(mk, "$(BR2_EXTERNAL_BRANCHGW_PATH)/package/*/*.mk") {
		t.Errorf("external.mk does not include the packages' .mk files:\n%s", mk)
	}
}

func TestScriptsParse(t *testing.T) {
	scripts, _ := filepath.Glob(filepath.Join(tree, "board", "*", "*.sh"))
	scripts = append(scripts, filepath.Join(tree, "..", "netctl", "netlab", "vm", "fetch-kernel.sh"))
	for _, s := range scripts {
		st, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable (Buildroot runs post scripts directly)", s)
		}
		if out, err := runBash("-n", s); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
}
