#!/bin/sh
# Guest side of tests/lab/signals_test.ts (issue 6, "Signals and exits"). In one boot:
#  - ROUNDS `virtio pktgen` transmit runs on NIC (full speed and paced at 20 kpps, alternating
#    in pairs), each stopped by SIGINT or SIGTERM at a random moment 0.2–3 s after the
#    takeover began (its claim record appeared): mid-traffic; how long it took to stop is measured
#    (stop_ms), and a run still alive 15 s after its signal is killed (rc=killed);
#  - THROWS runs of rel_pktgen_throw.ts, where the poll loop throws at a random moment;
#  - HOLDS runs of hold_device.ts (a bare takeover) signalled 0–1.4 s after its claim record
#    appeared: during or just after the takeover.
# After each: the NIC's driver, whether `virtio restore` was needed, and whether its interface
# comes up (ip link set up, operstate). One "kind key=value ..." line per run, then tallies.
A=${1:-0000:00:04.0}
PEER=${2:-0000:00:07.0}
ROUNDS=${3:-20}
THROWS=${4:-6}
HOLDS=${5:-6}
HERE=$(dirname "$0")
CLAIMS=/run/virtio-toolkit/claims
# sh starts a background command with SIGINT ignored (POSIX, no job control): give it the
# default disposition back, as a process started from a terminal has, or an early SIGINT
# (before Deno listens) would be ignored instead of ending it.
BG="env --default-signal=INT"
LOG=/tmp/rel-run.err
drv() { l=$(readlink /sys/bus/pci/devices/$1/driver); if [ -n "$l" ]; then basename "$l"; else echo none; fi; }
iface() { ls /sys/bus/pci/devices/$1/virtio*/net 2>/dev/null | head -1; }
claims() { ls $CLAIMS 2>/dev/null | wc -l; }
works() {
  i=$(iface "$A"); [ -n "$i" ] || { echo no-interface; return; }
  ip link set "$i" up || { echo up-failed; return; }
  n=0; while [ "$(cat /sys/class/net/$i/operstate)" != up ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n+1)); done
  cat /sys/class/net/$i/operstate; ip link set "$i" down
}
# Waits (up to 60 s) until the takeover has begun: the claim record is written before the
# first write to the device, after main.ts listens for signals. Prints yes or no.
await_claim() {
  n=0; while [ ! -e "$CLAIMS/$A.json" ] && [ $n -lt 1200 ] && kill -0 "$1" 2>/dev/null; do
    sleep 0.05; n=$((n+1))
  done
  [ -e "$CLAIMS/$A.json" ] && echo yes || echo no
}
# A random delay in ms from 200 to 3000, different every call.
rand_ms() { awk -v s="$1$(cut -d' ' -f1 /proc/uptime | tr -d .)" 'BEGIN { srand(s); printf "%d", 200 + rand() * 2800 }'; }
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
secs() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }
# The run's verdict: driver back (restoring if it was not), interface working.
check() {
  d=$(drv "$A"); restored=no
  if [ "$d" != virtio-pci ]; then virtio restore > /dev/null 2>&1; restored=yes; d=$(drv "$A"); fi
  echo "driver=$d needed_restore=$restored works=$(works) claims=$(claims)"
}

# A receiver on the hub, so transmit is not back-pressured into a stall.
p=$(iface "$PEER"); [ -n "$p" ] && ip link set "$p" up
echo "start driver=$(drv "$A") works=$(works)"

i=0
while [ $i -lt "$ROUNDS" ]; do
  i=$((i+1)); ms=$(rand_ms $i); sig=INT; [ $((i % 2)) -eq 0 ] && sig=TERM
  speed=full; rate=""; [ $(((i - 1) / 2 % 2)) -eq 1 ] && { speed=paced; rate="--rate 20kpps"; }
  $BG virtio pktgen "$A" --access sysfs --stall-timeout 10 $rate > /tmp/rel-run.out 2> $LOG & pid=$!
  taken=$(await_claim $pid)
  sleep "$(secs "$ms")"; kill -$sig $pid; t0=$(now_ms)
  while kill -0 $pid 2>/dev/null && [ $(($(now_ms) - t0)) -lt 15000 ]; do sleep 0.1; done
  stop_ms=$(($(now_ms) - t0))
  if kill -0 $pid 2>/dev/null; then kill -9 $pid; wait $pid; rc=killed; else wait $pid; rc=$?; fi
  summary=no; grep -q . /tmp/rel-run.out && summary=yes
  trace=no; grep -q "    at " $LOG && trace=yes
  echo "pktgen i=$i sig=$sig speed=$speed taken=$taken after_ms=$ms stop_ms=$stop_ms rc=$rc summary=$summary trace=$trace $(check)"
  [ "$rc" = 0 ] || [ "$rc" = 130 ] || [ "$rc" = 143 ] || sed 's/^/  stderr: /' $LOG | tail -3
done

i=0
while [ $i -lt "$THROWS" ]; do
  i=$((i+1)); ms=$(rand_ms 1$i)
  deno run -A --no-check "$HERE/rel_pktgen_throw.ts" "$A" "$ms" > /dev/null 2> $LOG; rc=$?
  thrown=no; grep -q "rel: thrown" $LOG && thrown=yes
  echo "throw i=$i after_ms=$ms rc=$rc thrown=$thrown $(check)"
  [ "$rc" = 1 ] || sed 's/^/  stderr: /' $LOG | tail -3
done

i=0
while [ $i -lt "$HOLDS" ]; do
  i=$((i+1)); ms=$(($(rand_ms 2$i) / 2 - 100)); sig=TERM; [ $((i % 2)) -eq 0 ] && sig=INT
  rm -f /tmp/rel-held
  $BG deno run -A --no-check "$HERE/hold_device.ts" "$A" /tmp/rel-held wait 2> $LOG & pid=$!
  taken=$(await_claim $pid)
  sleep "$(secs "$ms")"; kill -$sig $pid; wait $pid; rc=$?
  held=no; [ -e /tmp/rel-held ] && held=yes
  echo "hold i=$i sig=$sig taken=$taken after_ms=$ms held=$held rc=$rc $(check)"
done
echo "end claims=$(claims)"
