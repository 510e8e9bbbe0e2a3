#!/bin/sh
# Guest side of tests/lab/faults_test.ts (issue 6, "Real faults in the lab"). Three
# `virtio pktgen` transmit runs, each under a wall-clock bound (timeout -s KILL: a hang shows
# as rc=137). Before each fault the guest prints "rel: <phase>-traffic" on the console once
# the run has sent frames; the host then injects the fault over QMP:
#   link    set_link down, then up, on NIC's hub port
#   pause   stop, a few seconds, cont
#   unplug  device_del of the hot-pluggable NIC behind a PCIe root port (HOTPLUG_PORT)
# One "phase key=value ..." line per run on stdout; pktgen's stderr is copied to the console.
A=${1:-0000:00:04.0}
PEER=${2:-0000:00:07.0}
HOTPLUG_PORT=${3:-0000:00:1e.0}
CLAIMS=/run/virtio-toolkit/claims
drv() { l=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
iface() { ls /sys/bus/pci/devices/$1/virtio*/net 2>/dev/null | head -1; }
claims() { ls $CLAIMS 2>/dev/null | wc -l; }
works() {
  i=$(iface "$1"); [ -n "$i" ] || { echo no-interface; return; }
  ip link set "$i" up || { echo up-failed; return; }
  n=0; while [ "$(cat /sys/class/net/$i/operstate)" != up ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n+1)); done
  cat /sys/class/net/$i/operstate; ip link set "$i" down
}
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# run PHASE DEVICE BOUND_S PKTGEN_ARGS...: pktgen in the background; the traffic marker once
# a live line shows frames sent; then the exit code, the time taken and the messages.
run() {
  phase=$1; dev=$2; bound=$3; shift 3
  err=/tmp/rel-$phase.err
  t0=$(now_ms)
  timeout -s KILL "$bound" virtio pktgen "$dev" --access sysfs "$@" > /tmp/rel-$phase.out 2> "$err" & pid=$!
  n=0; while ! grep -q 'tx  *[1-9]' "$err" 2>/dev/null && [ $n -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; n=$((n+1)); done
  echo "rel: $phase-traffic" > /dev/console
  wait $pid; rc=$?
  ms=$(($(now_ms) - t0))
  sed "s/^/rel-$phase: /" "$err" > /dev/console
  trace=no; grep -q "    at \|internal error" "$err" && trace=yes
  echo "$phase rc=$rc ms=$ms trace=$trace link_down=$(grep -c 'link down' "$err") link_up=$(grep -c 'link up' "$err")"
}

p=$(iface "$PEER"); [ -n "$p" ] && ip link set "$p" up
echo "start driver=$(drv "$A") works=$(works "$A")"

run link "$A" 60 --duration 15 --interval 0.5 --stall-timeout 30
echo "link-after driver=$(drv "$A") works=$(works "$A") claims=$(claims)"

run pause "$A" 60 --duration 12 --interval 0.5
echo "pause-after driver=$(drv "$A") works=$(works "$A") claims=$(claims)"

X=$(ls -d /sys/bus/pci/devices/$HOTPLUG_PORT/0000:??:??.? 2>/dev/null | head -1); X=${X##*/}
echo "hotplug-nic address=${X:-none} driver=$(drv "$X")"
run unplug "$X" 90 --duration 60 --interval 0.5
gone=yes; [ -e "/sys/bus/pci/devices/$X" ] && gone=no
echo "unplug-after gone=$gone claims=$(claims)"
virtio status > /dev/null 2>&1; echo "status-after rc=$?"
virtio restore > /tmp/rel-restore.out 2>&1; rc=$?
echo "restore-after rc=$rc $(tr ' ' _ < /tmp/rel-restore.out | head -1)"
echo "end claims=$(claims)"
