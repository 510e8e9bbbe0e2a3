#!/bin/sh
# What `./run demo` runs inside the lab VM: the toolkit on real QEMU virtio devices.
set -e
echo "== virtio probe (every virtio device in the VM, read-only)"
virtio probe
echo
echo "== lspci -d 1af4: (for comparison)"
lspci -d 1af4:
