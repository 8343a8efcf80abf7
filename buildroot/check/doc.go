// Package check holds the offline tests of the Buildroot external tree in
// buildroot/: the defconfigs use only symbols that exist, the gatewayd
// package builds this module with golang-package, the kernel fragment has
// every option in netctl/kernelreq, the shipped config loads, the A/B
// partitions, RAUC slots and mount units agree, and every systemd unit
// passes systemd-analyze verify. Buildroot itself cannot run here (its
// downloads need the internet); buildroot/smoke boots the arm64 daemon.
package check
