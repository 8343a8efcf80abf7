# U-Boot A/B boot for RAUC's uboot backend (compiled to boot.scr by
# Buildroot's host uboot-tools). The environment (uboot.env on the boot
# partition, also read by fw_setenv on Linux) holds BOOT_ORDER and
# BOOT_<S>_LEFT, the boot attempts a slot has left. Each try costs one;
# RAUC's mark-good (done by gatewayd once the box is healthy) refills it.
# A slot that never gets marked good runs out and the other one boots.
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv bootpart
setenv raucslot
for s in ${BOOT_ORDER}; do
	if test "x${bootpart}" = "x"; then
		if test "${s}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
			setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
			setenv bootpart 2
			setenv raucslot A
		elif test "${s}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
			setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
			setenv bootpart 3
			setenv raucslot B
		fi
	fi
done

if test -z "${bootpart}"; then
	# Both slots used up their attempts: refill and start over rather than
	# leave a store without its router.
	echo "no slot with attempts left; resetting"
	setenv BOOT_A_LEFT 3
	setenv BOOT_B_LEFT 3
	saveenv
	reset
fi
saveenv

setenv bootargs "${bootargs} root=/dev/mmcblk0p${bootpart} rootfstype=ext4 ro rootwait rauc.slot=${raucslot} console=ttyS0,115200 console=tty1"
load mmc 0:${bootpart} ${kernel_addr_r} /boot/Image
booti ${kernel_addr_r} - ${fdt_addr}
