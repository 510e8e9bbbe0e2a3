#!/bin/sh
# Guest side of the lab half of the bad-input table (tests/lab/faults_test.ts): requests that
# are refused only once a real device is looked at or taken over. Per case: exit code, how many
# message lines (hint:/Try lines counted apart), a stack trace or not, and whether any driver
# or claim record changed; then the first stderr line as "msg NAME TEXT".
NIC=0000:00:04.0
PEER=0000:00:07.0
BLK=0000:00:0a.0
ROOT9P=0000:00:02.0
HERE=$(dirname "$0")
drv() { l=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
iface() { ls /sys/bus/pci/devices/$1/virtio*/net 2>/dev/null | head -1; }
state() {
  for d in $NIC $PEER $BLK $ROOT9P; do printf '%s=%s ' $d "$(drv $d)"; done
  printf 'claims=%s' "$(ls /run/virtio-toolkit/claims 2>/dev/null | wc -l)"
}
bad() {
  name=$1; shift
  before=$(state)
  timeout -s KILL 120 "$@" > /tmp/rel-bad.out 2> /tmp/rel-bad.err; rc=$?
  after=$(state)
  changed=no; [ "$before" = "$after" ] || changed="yes:${after}"
  extra=$(grep -c '^hint: \|^Try ' /tmp/rel-bad.err)
  lines=$(grep -vc '^hint: \|^Try ' /tmp/rel-bad.err)
  trace=no; grep -q '^    at \|internal error' /tmp/rel-bad.err && trace=yes
  echo "bad name=$name rc=$rc lines=$lines extra=$extra trace=$trace changed=$changed"
  echo "msg $name $(head -1 /tmp/rel-bad.err)"
}
echo "start $(state)"
P=virtio
bad blk-for-pktgen $P pktgen $BLK --quiet -n 10 --access sysfs
bad non-virtio $P pktgen 0000:00:00.0 --quiet -n 10
bad root-9p-forced $P pktgen $ROOT9P --quiet -n 10 --force
bad root-9p-unbind $P unbind $ROOT9P --force
bad no-iommu-group $P pktgen $NIC --quiet -n 10 --access vfio
bad size-above-mtu $P pktgen $NIC --quiet -n 10 --access sysfs --size 1600
bad queue-size-unsupported $P pktgen $NIC --quiet -n 10 --access sysfs --queue-size 4096
bad queues-above-max $P pktgen $NIC --quiet -n 10 --access sysfs --queues 8
bad bind-unknown-driver $P bind $NIC --driver no_such_driver
# No hugepages: no-IOMMU DMA needs them.
pages=$(cat /proc/sys/vm/nr_hugepages); echo 0 > /proc/sys/vm/nr_hugepages
bad no-hugepages $P pktgen $NIC --quiet -n 10 --access sysfs
echo "$pages" > /proc/sys/vm/nr_hugepages
# In use: the peer's interface up with an address.
p=$(iface $PEER); ip addr add 10.9.9.9/24 dev "$p"; ip link set "$p" up
bad in-use-address $P pktgen $PEER --quiet -n 10 --access sysfs
ip addr flush dev "$p"; ip link set "$p" down
# In use by another virtio process.
rm -f /tmp/rel-held
deno run -A --no-check "$HERE/hold_device.ts" $NIC /tmp/rel-held wait 2> /dev/null & pid=$!
n=0; while [ ! -e /tmp/rel-held ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
bad held-by-virtio $P pktgen $NIC --quiet -n 10 --access sysfs
bad held-by-virtio-bind $P bind $NIC --driver vfio-pci
kill -TERM $pid; wait $pid
echo "end $(state)"
