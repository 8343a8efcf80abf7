#!/bin/bash
# fetch-kernel.sh ARCH CACHE_DIR: puts Debian's stock kernel for ARCH (amd64
# or arm64: vmlinuz, its config and modules) and Debian's static busybox for
# ARCH into CACHE_DIR, for `gwlab vm` (amd64: it has fq_codel, cake and
# netem) and the firmware image smoke test (arm64). Only Debian's apt is
# asked, for exact package names; nothing is downloaded when a test runs.
# Idempotent: a filled cache is left alone. Needs root the first time
# (apt-get update, and dpkg --add-architecture for a foreign ARCH).
set -euo pipefail
arch=${1:?usage: fetch-kernel.sh amd64|arm64 CACHE_DIR}
cache=${2:?usage: fetch-kernel.sh amd64|arm64 CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
if [ -s "$cache/vmlinuz" ] && [ -x "$cache/busybox" ] && [ -d "$cache/modules" ]; then
	echo "kernel cache $cache ready ($(cat "$cache/kernel-package"))"
	exit 0
fi

# apt shows a foreign architecture's packages only once dpkg knows it.
if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	dpkg --add-architecture "$arch"
	apt-get update -q
fi
# The metapackage names the current kernel package; ask for its exact name
# instead of guessing or globbing.
kernel_pkg() {
	apt-cache depends "linux-image-$arch:$arch" 2>/dev/null |
		awk -v a="$arch" '$1 == "Depends:" && $2 ~ ("^linux-image-[0-9].*-" a) { sub(":" a "$", "", $2); print $2; exit }'
}
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then
	apt-get update -q
	kpkg=$(kernel_pkg)
fi
if [ -z "$kpkg" ]; then
	echo "fetch-kernel: apt knows no linux-image-$arch; is Debian's $arch archive reachable?" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "fetch-kernel: downloading $kpkg:$arch busybox-static:$arch from Debian"
# Root downloads into a directory _apt cannot write: say so instead of warning.
apt-get download -q -o APT::Sandbox::User=root "$kpkg:$arch" "busybox-static:$arch"
mkdir kernel bb
dpkg-deb -x "$kpkg"_*_"$arch".deb kernel
dpkg-deb -x busybox-static_*_"$arch".deb bb

rm -rf "$cache/modules"
cp kernel/boot/vmlinuz-* "$cache/vmlinuz"
cp kernel/boot/config-* "$cache/kernel-config"
# The package holds one kernel version: its tree becomes modules/.
mv kernel/lib/modules/*/ "$cache/modules"
install -m 0755 bb/bin/busybox "$cache/busybox"
echo "$kpkg" >"$cache/kernel-package"
echo "fetch-kernel: $cache ready ($kpkg)"
