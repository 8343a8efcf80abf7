#!/bin/sh
# fetch-kernel.sh DIR: puts Debian's stock amd64 kernel (vmlinuz and its
# modules, which have fq_codel and cake) into DIR for the qos VM test
# (`go test -tags qemu -run TestVMLeafQdisc ./netctl/qos/`). Cached: does
# nothing when DIR/vmlinuz exists. Needs apt (Debian) and dpkg-deb.
set -eu
dir=${1:-/var/cache/branchgw/vm-kernel}
[ -e "$dir/vmlinuz" ] && exit 0
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/root"
mkdir -p "$dir"
cp "$tmp"/root/boot/vmlinuz-* "$dir/vmlinuz"
cp -r "$tmp"/root/lib/modules "$dir/modules"
echo "kernel $pkg in $dir"
