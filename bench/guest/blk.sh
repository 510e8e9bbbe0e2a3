#!/bin/sh
# Guest half of bench/lab_blk.ts: on one disk, each row run by `virtio blkgen` (our driver)
# and by fio (io_uring, O_DIRECT) through the kernel's virtio_blk, in interleaved rounds
# (the order flips every round). Both print fio's JSON shape; each run is one line
# "@@run TOOL ROW ROUND" followed by its JSON document.
#   blk.sh ADDR ROUNDS RUNTIME RAMP
A=$1 ROUNDS=$2 RUNTIME=$3 RAMP=$4
disk() { ls /sys/bus/pci/devices/$A/virtio*/block 2>/dev/null | head -1; }
back() { n=0; while [ -z "$(disk)" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; }
# row name, rw, bs, iodepth
ROWS="qd1:randread:4k:1 qd32:randread:4k:32 seq128k:read:128k:4"
ours() {
  virtio blkgen $A --rw $2 --bs $3 --iodepth $4 --runtime $RUNTIME --ramp $RAMP --json --quiet
}
fio_run() {
  back
  fio --name=$1 --filename=/dev/$(disk) --direct=1 --ioengine=io_uring --rw=$2 --bs=$3 \
    --iodepth=$4 --runtime=$RUNTIME --ramp_time=$RAMP --time_based --lat_percentiles=1 --output-format=json
}
r=1
while [ $r -le $ROUNDS ]; do
  for row in $ROWS; do
    IFS=: read name rw bs qd <<ROW
$row
ROW
    if [ $((r % 2)) -eq 1 ]; then order="ours fio"; else order="fio ours"; fi
    for tool in $order; do
      echo "@@run $tool $name $r"
      if [ $tool = ours ]; then ours $name $rw $bs $qd; else fio_run $name $rw $bs $qd; fi
      echo "@@end $?"
    done
  done
  r=$((r+1))
done
