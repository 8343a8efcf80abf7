#!/bin/busybox sh
# PID 1 of the smoke image: mount the API filesystems, load the virtio
# network driver, name the NICs by MAC like the appliance's networkd units
# do, address them, then run gatewayd as the appliance would.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run/gatewayd /var/lib/gatewayd /tmp
up() { cut -d' ' -f1 /proc/uptime; }
echo "smoke: userspace at $(up)s"
while read -r m; do
	err=$(insmod "/lib/modules/$m" 2>&1) || echo "smoke: insmod $m failed: $err"
done </etc/smoke-modules
ip link set lo up
for dev in /sys/class/net/*; do
	case $(cat "$dev/address") in
	52:54:00:b6:10:01) ip link set "${dev##*/}" name lan0 ;;
	52:54:00:b6:20:01) ip link set "${dev##*/}" name wan1 ;;
	esac
done
ip addr add 198.18.10.1/24 dev lan0
ip link set lan0 up
ip addr add 203.0.113.15/24 dev wan1
ip link set wan1 up
ip route add default via 203.0.113.2 dev wan1
echo "smoke: network up at $(up)s"
ip addr
/usr/bin/gatewayd -config /etc/gatewayd/gatewayd.yaml &
echo "smoke: gatewayd started at $(up)s"
wait $!
echo "smoke: gatewayd exited with $? at $(up)s"
poweroff -f
