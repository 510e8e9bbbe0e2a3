#!/bin/sh
# Guest: a process holding a NIC ends by SIGKILL, SIGTERM, SIGINT or an exception, at random
# moments; after each the NIC must be back on virtio-pci with a working interface (after a
# SIGKILL: once 'virtio restore' or the next takeover has run). One "key=value" line per check.
A=${1:-0000:00:04.0}
ROUNDS=${2:-4}
HERE=$(dirname "$0")
HOLD="deno run -A --no-check $HERE/hold_device.ts"
M=/tmp/held
drv() { l=$(readlink /sys/bus/pci/devices/$A/driver); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
iface() { ls /sys/bus/pci/devices/$A/virtio*/net 2>/dev/null | head -1; }
# The interface works: it can be set up and reports a carrier.
works() {
  i=$(iface); [ -n "$i" ] || { echo no-interface; return; }
  ip link set "$i" up || { echo up-failed; return; }
  n=0; while [ "$(cat /sys/class/net/$i/operstate)" != up ] && [ $n -lt 20 ]; do sleep 0.1; n=$((n+1)); done
  cat /sys/class/net/$i/operstate; ip link set "$i" down
}
# sh starts & jobs with SIGINT ignored; give it back so an early SIGINT is not lost.
hold() { rm -f $M; env --default-signal=INT $HOLD $A $M "$1" & pid=$!; }
await_held() { n=0; while [ ! -e $M ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; [ -e $M ] && echo yes || echo no; }
rand_ms() { awk -v s="$1" 'BEGIN { srand(s); printf "%d", rand() * 4000 }'; }

echo "start driver=$(drv) works=$(works)"

hold wait; h=$(await_held); kill -9 $pid; wait $pid; rc=$?
echo "kill9 held=$h rc=$rc driver=$(drv) claims=$(ls /run/virtio-toolkit/claims 2>/dev/null | wc -l)"
virtio status --json | grep -c '"ownerAlive": false' | sed 's/^/status-dead-claims=/'
virtio restore; rc=$?
echo "restore rc=$rc driver=$(drv) works=$(works) claims=$(ls /run/virtio-toolkit/claims 2>/dev/null | wc -l)"
virtio restore | sed 's/^/restore-again=/'

# Killed again, then the next takeover gives the dead claim back first and takes it anew.
hold wait; await_held > /dev/null; kill -9 $pid; wait $pid
hold wait; h=$(await_held); kill -TERM $pid; wait $pid; rc=$?
echo "next-start held=$h rc=$rc driver=$(drv) works=$(works)"

for sig in TERM INT; do
  hold wait; h=$(await_held); kill -$sig $pid; wait $pid; rc=$?
  echo "sig$sig held=$h rc=$rc driver=$(drv) works=$(works)"
done
hold throw; wait $pid; rc=$?
echo "throw rc=$rc driver=$(drv) works=$(works)"

# Signals at random moments, also while the takeover is under way.
i=0
while [ $i -lt "$ROUNDS" ]; do
  i=$((i+1)); ms=$(rand_ms $i$$)
  sig=TERM; [ $((i % 2)) -eq 0 ] && sig=INT
  hold wait; sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  kill -$sig $pid; wait $pid; rc=$?
  held=no; [ -e $M ] && held=yes
  d=$(drv); restored=no
  if [ "$d" != virtio-pci ]; then virtio restore > /dev/null; restored=yes; d=$(drv); fi
  echo "random i=$i sig=$sig after_ms=$ms held=$held rc=$rc needed_restore=$restored driver=$d works=$(works)"
done
echo "end claims=$(ls /run/virtio-toolkit/claims 2>/dev/null | wc -l)"
