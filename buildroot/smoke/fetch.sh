#!/bin/bash
# Fetches what the image smoke test boots into a cache directory: Debian's
# arm64 kernel (vmlinuz and its modules) and Debian's static arm64 busybox.
# Only Debian's apt is asked; nothing is downloaded when the test runs.
# Idempotent: a filled cache is left alone. Needs root the first time
# (dpkg --add-architecture, apt-get update).
set -euo pipefail
cache=${1:?usage: fetch.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
if [ -s "$cache/vmlinuz" ] && [ -x "$cache/busybox" ] && [ -d "$cache/modules" ]; then
	echo "image-smoke: cache ready ($(cat "$cache/kernel-package"))"
	exit 0
fi

# apt shows arm64 packages only once the architecture is known to dpkg.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -q
fi
# The metapackage names the current kernel package; ask for its exact name
# instead of guessing or globbing.
kernel_pkg() {
	apt-cache depends linux-image-arm64:arm64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-arm64/ { sub(/:arm64$/, "", $2); print $2; exit }'
}
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then
	apt-get update -q
	kpkg=$(kernel_pkg)
fi
if [ -z "$kpkg" ]; then
	echo "image-smoke: apt knows no linux-image-arm64; is Debian's arm64 archive reachable?" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "image-smoke: downloading $kpkg:arm64 busybox-static:arm64 from Debian"
# Root downloads into a directory _apt cannot write: say so instead of warning.
apt-get download -q -o APT::Sandbox::User=root "$kpkg:arm64" busybox-static:arm64
mkdir kernel bb
dpkg-deb -x "$kpkg"_*_arm64.deb kernel
dpkg-deb -x busybox-static_*_arm64.deb bb

rm -rf "$cache/modules"
cp kernel/boot/vmlinuz-* "$cache/vmlinuz"
cp kernel/boot/config-* "$cache/kernel-config"
# The package holds one kernel version: its tree becomes modules/.
mv kernel/lib/modules/*/ "$cache/modules"
install -m 0755 bb/bin/busybox "$cache/busybox"
echo "$kpkg" >"$cache/kernel-package"
echo "image-smoke: cache ready ($kpkg)"
