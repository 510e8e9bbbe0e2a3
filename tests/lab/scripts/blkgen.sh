#!/bin/sh
# Guest: virtio blkgen on QEMU's file-backed disks (lab set blk-data). Sections "@@name",
# each ending "@@rc N"; "key=value" lines for the checks tests/lab/blkgen_test.ts makes.
M=0000:00:17.0 L=0000:00:18.0 P=0000:00:19.0 R=0000:00:1a.0
HERE=$(dirname "$0")
drv() { l=$(readlink /sys/bus/pci/devices/$1/driver); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
disk() { ls /sys/bus/pci/devices/$1/virtio*/block 2>/dev/null | head -1; }
sum() { d=$(disk $1); [ -n "$d" ] && sha256sum /dev/$d | cut -d' ' -f1; }
# Waits (≤ 20 s) until blkgen has taken $1 from virtio-pci.
taken() { n=0; while [ "$(drv $1)" = virtio-pci ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done; }
# Waits (≤ 10 s) for the kernel's disk to be back after a rebind.
back() { n=0; while [ -z "$(disk $1)" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; }
sec() { echo "@@$1"; }

for a in $M $L $P; do
  sec "verify $a"
  virtio blkgen $a --rw randwrite --write --verify --size 64m --json --quiet; echo "@@rc $?"
  back $a; echo "after driver=$(drv $a) disk=$(disk $a)"
done

sec "mq"
virtio blkgen $M --rw randread --queues 4 --iodepth 8 --count 4000 --json --quiet; echo "@@rc $?"

sec "seq-read"
virtio blkgen $P --rw read --bs 128k --iodepth 4 --json --quiet; echo "@@rc $?"

sec "signals"
back $M; before=$(sum $M)
for sig in INT TERM; do
  env --default-signal=INT virtio blkgen $M --rw randread --runtime 120 --quiet > /tmp/out & pid=$!
  taken $M; sleep 2; kill -$sig $pid; wait $pid; rc=$?
  back $M; echo "sig=$sig rc=$rc driver=$(drv $M) summary=$(grep -c 'read: IOPS' /tmp/out)"
done
virtio blkgen $M --rw randread --runtime 120 --quiet > /dev/null & pid=$!
taken $M; sleep 2; kill -KILL $pid; wait $pid; rc=$?
echo "sig=KILL rc=$rc driver=$(drv $M)"
virtio restore > /dev/null; rc=$?; back $M
echo "restore rc=$rc driver=$(drv $M)"
echo "sums before=$before after=$(sum $M)"
echo "@@rc 0"

sec "reverify"
# The pattern written by the first section survived the signalled runs and the rebinds.
virtio blkgen $M --rw randread --verify --size 64m --json --quiet; echo "@@rc $?"

sec "edges"
deno run -A --no-check $HERE/../guest/blk_edges.ts $M; echo "@@rc $?"

sec "after-zeroes"
# The first MiB again: exactly the 8 sectors WRITE_ZEROES cleared must fail verification.
virtio blkgen $M --rw read --verify --size 1m --json --quiet; echo "@@rc $?"

sec "diag"
virtio diag --active --json $P; echo "@@rc $?"

sec "readonly"
virtio blkgen $R --rw write --write --count 10 --quiet; echo "@@rc $?"
virtio blkgen $R --rw randread --count 100 --json --quiet > /tmp/ro.json; echo "read rc=$? driver=$(drv $R)"

sec "no-write-flag"
virtio blkgen $M --rw write --count 10 --quiet; echo "@@rc $?"

sec "mounted"
d=$(disk $L)
mkfs.ext4 -q -F /dev/$d && mkdir -p /tmp/mnt && mount /dev/$d /tmp/mnt && echo hello > /tmp/mnt/file
sync
virtio blkgen $L --rw write --write --count 10 --quiet; rc=$?
echo "mounted rc=$rc driver=$(drv $L) file=$(cat /tmp/mnt/file)"
umount /tmp/mnt; before=$(sum $L)
virtio blkgen $L --rw write --write --count 10 --quiet; rc=$?
back $L; echo "signature rc=$rc driver=$(drv $L)"
echo "sums before=$before after=$(sum $L)"
echo "@@rc 0"
