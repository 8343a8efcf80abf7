#!/bin/bash
# Buildroot post-build script for every branchgw board: $1 is TARGET_DIR,
# $2 the board name (BR2_ROOTFS_POST_SCRIPT_ARGS).
set -euo pipefail
target=${1:?TARGET_DIR}
board=${2:?board name}

# Mount points on the read-only rootfs: systemd cannot create them there.
mkdir -p "$target/data" "$target/etc/gatewayd"
case $board in
x86_64) mkdir -p "$target/boot/efi" ;;
rpi4) mkdir -p "$target/boot" ;;
esac

# The RAUC keyring: the CA that signs update bundles. An image without it
# could never take an update, so the build stops instead.
if [ -n "${BRANCHGW_RAUC_KEYRING:-}" ]; then
	install -D -m 0644 "$BRANCHGW_RAUC_KEYRING" "$target/etc/rauc/keyring.pem"
elif [ ! -s "$target/etc/rauc/keyring.pem" ]; then
	echo "branchgw: set BRANCHGW_RAUC_KEYRING to the CA certificate that signs update bundles" >&2
	exit 1
fi
