package check

import "os/exec"

func runBash(args ...string) ([]byte, error) {
	return exec.Command("bash", args...).CombinedOutput()
}
