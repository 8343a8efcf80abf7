// Package vm boots a Linux kernel in QEMU with an initramfs built on the
// spot, for the parts of the lab this machine's kernel cannot show: Debian's
// stock kernel has fq_codel, cake and netem, so `gwlab vm` runs the lab and
// its benchmarks there, and the firmware smoke test boots the arm64 image.
//
// An Initramfs is written in the newc cpio format the kernel unpacks into
// its rootfs; LoadOrder finds the modules a list needs, dependencies first,
// from the .modinfo sections (the Debian package ships no modules.dep);
// AddLibraries copies a dynamically linked binary's loader and libraries.
// Nothing here downloads anything: the kernel comes from a cache that a
// Makefile step fills from Debian's packages (fetch-kernel.sh).
package vm
