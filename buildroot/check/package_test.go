package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// buildrootGo is the Go that Buildroot's host-go builds (package/go/go.mk,
// GO_VERSION 1.26.6 at the commit buildrootSymbols was checked against):
// go.mod must not ask for a newer language version.
const buildrootGo = "1.26"

func goMod(t *testing.T) (module, goVersion string) {
	t.Helper()
	mod := read(t, filepath.Join(repoRoot, "go.mod"))
	m := regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`).FindStringSubmatch(mod)
	g := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindStringSubmatch(mod)
	if m == nil || g == nil {
		t.Fatalf("go.mod has no module or go line:\n%s", mod)
	}
	return m[1], g[1]
}

// mkVar reads NAME = value from a .mk file, joining continuation lines.
func mkVar(mk, name string) (string, bool) {
	mk = strings.ReplaceAll(mk, "\\\n", " ")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*[:+]?=\s*(.*)$`).FindStringSubmatch(mk)
	if m == nil {
		return "", false
	}
	return strings.Join(strings.Fields(m[1]), " "), true
}

func TestGatewaydPackageUsesGolangPackage(t *testing.T) {
	mk := read(t, filepath.Join(tree, "package", "gatewayd", "gatewayd.mk"))
	module, _ := goMod(t)
	if !strings.Contains(mk, "$(eval $(golang-package))") {
		t.Error("gatewayd.mk does not use $(eval $(golang-package))")
	}
	for _, tc := range []struct {
		name, want string
	}{
		{"GATEWAYD_GOMOD", module},
		{"GATEWAYD_SITE_METHOD", "local"},
		{"GATEWAYD_SITE", "$(BR2_EXTERNAL_BRANCHGW_PATH)/.."},
	} {
		got, ok := mkVar(mk, tc.name)
		if !ok || got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, name := range []string{"GATEWAYD_LDFLAGS", "GATEWAYD_TAGS", "GATEWAYD_BUILD_TARGETS"} {
		if v, ok := mkVar(mk, name); !ok || v == "" {
			t.Errorf("%s is not set", name)
		}
	}
	targets, _ := mkVar(mk, "GATEWAYD_BUILD_TARGETS")
	for _, target := range strings.Fields(targets) {
		main := filepath.Join(repoRoot, target, "main.go")
		if !strings.Contains(read(t, main), "package main") {
			t.Errorf("build target %s: %s is not package main", target, main)
		}
	}
	ldflags, _ := mkVar(mk, "GATEWAYD_LDFLAGS")
	for _, m := range regexp.MustCompile(`\$\(GATEWAYD_GOMOD\)/(\S+)\.(\w+)=`).FindAllStringSubmatch(ldflags, -1) {
		src := read(t, filepath.Join(repoRoot, m[1], filepath.Base(m[1])+".go"))
		if !regexp.MustCompile(`\b` + m[2] + `\b`).MatchString(src) {
			t.Errorf("LDFLAGS sets %s.%s, which %s does not declare", m[1], m[2], m[1])
		}
	}
	// Every file the install step copies from the source tree exists.
	for _, m := range regexp.MustCompile(`\$\(@D\)/(\S+)`).FindAllStringSubmatch(mk, -1) {
		if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
			t.Errorf("gatewayd.mk installs $(@D)/%s: %v", m[1], err)
		}
	}
	if users, _ := mkVar(mk, "GATEWAYD_USERS"); !strings.Contains(mk, "define GATEWAYD_USERS") && users == "" {
		t.Error("gatewayd.mk does not create the gatewayd system user (GATEWAYD_USERS)")
	}
}

func TestGatewaydConfigInNeedsCgo(t *testing.T) {
	cfg := read(t, filepath.Join(tree, "package", "gatewayd", "Config.in"))
	for _, want := range []string{
		"depends on BR2_PACKAGE_HOST_GO_TARGET_ARCH_SUPPORTS",
		"depends on BR2_PACKAGE_HOST_GO_TARGET_CGO_LINKING_SUPPORTS",
		"depends on BR2_TOOLCHAIN_HAS_THREADS",
		"select BR2_PACKAGE_HOST_GO",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("package/gatewayd/Config.in lacks %q", want)
		}
	}
	ours := treeSymbols(t)
	for _, m := range regexp.MustCompile(`\bBR2_\w+`).FindAllString(cfg, -1) {
		if !ours[m] && !buildrootSymbols[m] {
			t.Errorf("Config.in refers to unknown symbol %s", m)
		}
	}
}

func TestGoDirectiveWithinBuildrootGo(t *testing.T) {
	_, v := goMod(t)
	if cmpVersion(v, buildrootGo) > 0 {
		t.Errorf("go.mod says go %s; Buildroot's Go is %s.x, which would refuse to build it", v, buildrootGo)
	}
}

// cmpVersion compares the major.minor of two Go versions.
func cmpVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 2; i++ {
		x, _ := strconv.Atoi(at(pa, i))
		y, _ := strconv.Atoi(at(pb, i))
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "0"
}

func TestCmpVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.26.0", "1.26", 0},
		{"1.26.9", "1.26", 0},
		{"1.27", "1.26", 1},
		{"1.25.3", "1.26", -1},
		{"2.0", "1.26", 1},
	} {
		if got := cmpVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("cmpVersion(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
