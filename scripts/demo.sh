#!/bin/sh
# What `./run demo` runs inside the lab VM: the toolkit on real QEMU virtio devices.
set -e
echo "== virtio probe (every virtio device in the VM, read-only)"
virtio probe
echo
echo "== lspci -d 1af4: (for comparison)"
lspci -d 1af4:
echo
echo "== virtio pktgen: 2 s of 64-byte UDP frames from 0000:00:04.0 (our driver, full speed)"
# Something on the hub must take frames, or QEMU stops after one ring: bring the kernel's
# interface of the peer NIC up (it drops frames not addressed to it).
peer=$(ls /sys/bus/pci/devices/0000:00:07.0/virtio*/net)
ip link set "$peer" up
virtio pktgen 0000:00:04.0 --duration 2
echo
echo "== virtio pktgen loopback: 0000:00:04.0 (split) → 0000:00:06.0 (packed), 5 kpps, no loss allowed"
virtio pktgen 0000:00:04.0 --loopback 0000:00:06.0 --count 10000 --rate 5k --expect-loss 0
