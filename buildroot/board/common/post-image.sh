#!/bin/bash
# Buildroot post-image script for every branchgw board: $1 is BINARIES_DIR,
# $2 the board name. Writes the A/B disk image (genimage) and, when a
# signing key is given, the RAUC update bundle for the same rootfs.
set -euo pipefail
images=${1:?BINARIES_DIR}
board=${2:?board name}
board_dir=$(cd "$(dirname "$0")/../$board" && pwd)

if [ "$board" = x86_64 ]; then
	# GRUB reads its config and the A/B state (grubenv, which RAUC edits)
	# from the EFI partition.
	install -D -m 0644 "$board_dir/grub.cfg" "$images/efi-part/EFI/BOOT/grub.cfg"
	# An environment block is exactly 1024 bytes, padded with '#'.
	{
		printf '# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=1\nB_TRY=0\n'
		head -c 1024 /dev/zero | tr '\0' '#'
	} | head -c 1024 >"$images/efi-part/EFI/BOOT/grubenv"
fi

# The data partition, seeded with the overlay's /data (the shipped config
# and the state directory). genimage cannot fill it: Buildroot hands it an
# empty root path. Updates never write this partition again.
rm -f "$images/data.ext4"
"$HOST_DIR/sbin/mkfs.ext4" -q -L data -d "$TARGET_DIR/data" -E root_owner=0:0 "$images/data.ext4" 1G

support/scripts/genimage.sh -c "$board_dir/genimage.cfg"

if [ -n "${BRANCHGW_RAUC_KEY:-}" ] && [ -n "${BRANCHGW_RAUC_CERT:-}" ]; then
	version=$(git -C "$board_dir" describe --tags --always --dirty 2>/dev/null || echo dev)
	bundle_dir=$(mktemp -d)
	trap 'rm -rf "$bundle_dir"' EXIT
	cp "$images/rootfs.ext4" "$bundle_dir/rootfs.ext4"
	cat >"$bundle_dir/manifest.raucm" <<MANIFEST
[update]
compatible=branchgw-$board
version=$version

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
	rm -f "$images/branchgw-$board-$version.raucb"
	"$HOST_DIR/bin/rauc" bundle --cert="$BRANCHGW_RAUC_CERT" --key="$BRANCHGW_RAUC_KEY" \
		"$bundle_dir" "$images/branchgw-$board-$version.raucb"
	echo "branchgw: update bundle $images/branchgw-$board-$version.raucb"
else
	echo "branchgw: no BRANCHGW_RAUC_KEY/BRANCHGW_RAUC_CERT, so no update bundle"
fi
