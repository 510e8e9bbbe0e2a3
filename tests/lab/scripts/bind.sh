#!/bin/sh
# Guest: `virtio status`, `bind` and `unbind` on real devices. Prints the status JSON between
# @@status/@@end, then one "name key=value ..." line per check.
P=0000:00:07.0     # net-peer: a free NIC (interface down)
V=0000:00:09.0     # net-vfio: behind the vIOMMU, for vfio-pci
RNG=0000:00:0b.0   # the current hwrng
ROOT9P=0000:00:02.0
drv() { l=$(readlink /sys/bus/pci/devices/$1/driver); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
iface() { ls /sys/bus/pci/devices/$1/virtio*/net 2>/dev/null | head -1; }
works() {
  i=$(iface $1); [ -n "$i" ] || { echo no-interface; return; }
  ip link set "$i" up || { echo up-failed; return; }
  n=0; while [ "$(cat /sys/class/net/$i/operstate)" != up ] && [ $n -lt 20 ]; do sleep 0.1; n=$((n+1)); done
  cat /sys/class/net/$i/operstate; ip link set "$i" down
}
# Runs virtio with the rest of the arguments; prints "NAME rc=.. driver=.. said=<first stderr words>".
check() {
  name=$1; dev=$2; shift 2
  virtio "$@" > /tmp/out 2> /tmp/err; rc=$?
  said=$(head -1 /tmp/err | tr ' =' '_~' | cut -c1-160)
  echo "$name rc=$rc driver=$(drv $dev) said=${said:-none}"
}

echo "@@status"; virtio status --json; echo "@@end"

check root9p-unbind $ROOT9P unbind $ROOT9P
check root9p-forced $ROOT9P bind $ROOT9P --driver vfio-pci --force
check rng-unbind $RNG unbind $RNG

echo "peer-start driver=$(drv $P) works=$(works $P)"
check peer-unbind $P unbind $P
check peer-unbind-again $P unbind $P
check peer-bind-back $P bind $P --driver virtio-pci
echo "peer-back-works works=$(works $P) override=$(cat /sys/bus/pci/devices/$P/driver_override)"

check vfio-bind $V bind $V --driver vfio-pci --json
echo "vfio-json changed=$(grep -c '"changed": true' /tmp/out) group=$(ls /dev/vfio | grep -c '^[0-9]')"
virtio status --json | tr -d ' \n' | grep -o "\"address\":\"$V\"[^}]*" | sed 's/^/vfio-status /;s/"//g;s/,/ /g;s/:/~/g' | cut -c1-300
check vfio-same $V bind $V --driver vfio-pci
check vfio-back $V bind $V --driver virtio-pci
echo "vfio-back-works works=$(works $V) override=$(cat /sys/bus/pci/devices/$V/driver_override)"

IF=$(iface $P)
ip addr add 10.99.0.1/24 dev "$IF"; ip link set "$IF" up
check busy-refused $P unbind $P
echo "busy-reason addr=$(grep -c 'is up with address 10.99.0.1' /tmp/err) route=$(grep -c 'carries' /tmp/err)"
check busy-forced $P unbind $P --force
echo "busy-forced-warning n=$(grep -c 'warning: forced although' /tmp/err)"
check busy-back $P bind $P --driver virtio-pci
echo "busy-back-works works=$(works $P)"

check bad-address $P bind zz --driver vfio-pci
check not-virtio $P bind 0000:00:00.0 --driver vfio-pci
check no-device $P unbind 0000:00:1f.7
check missing-driver-option $P bind $P
check missing-module $P bind $P --driver nosuch_drv
echo "end driver=$(drv $P)"
