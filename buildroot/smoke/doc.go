// Package smoke boots the arm64 gatewayd in QEMU, since Buildroot itself
// cannot run where the tests run (its downloads need the internet). The test
// packs bin/gatewayd-linux-arm64 (from `make cross`), its glibc loader and
// libraries, Debian's static busybox and the virtio network modules into an
// initramfs, boots it with Debian's arm64 kernel under qemu-system-aarch64
// -M virt (TCG, no KVM), and asks gatewayd's /healthz through QEMU's user
// network forwarded to 127.0.0.1. `make image-smoke` fetches the kernel and
// busybox with netctl/netlab/vm/fetch-kernel.sh (Debian apt only) and runs it; nothing is downloaded
// at test time.
package smoke
