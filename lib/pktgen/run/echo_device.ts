/**
 * A minimal device on the ring memory itself: on each call it completes every buffer the
 * driver made available, with typed arrays (no parsing, no checks), so what runs is the
 * driver's side — pktgen's JIT warm-up on private rings (warmup.ts) and the host benchmarks
 * (bench/). Not a test double: testing/sim_device.ts is the device that checks the driver.
 * One thread: the driver and this device never run at once, so no atomics are needed beyond
 * the index loads and stores.
 *
 * @module
 */
import * as L from "../../queue/layout.ts";
import type { Virtqueue } from "../../queue/virtqueue.ts";

/**
 * A device that, on each call, marks every buffer made available in `q` used, with length
 * `usedLen` (0 for transmit; header + frame for receive, whose slots hold a frame already).
 * Typed arrays straight on the ring, one descriptor per buffer (the slot queues' layout).
 */
export function echoDevice(q: Virtqueue, usedLen: number): () => void {
  const { buffer, byteOffset } = q.region.bytes;
  const mask = q.size - 1;
  if (q.format === "split") {
    const layout = L.splitLayout(q.size, false);
    const avail = new Uint16Array(buffer, byteOffset + layout.avail, 3 + q.size);
    const used16 = new Uint16Array(buffer, byteOffset + layout.used, 2);
    const used32 = new Uint32Array(buffer, byteOffset + layout.used, 1 + 2 * q.size);
    let lastAvail = 0, usedIdx = 0;
    return () => {
      const idx = Atomics.load(avail, 1);
      while (lastAvail !== idx) {
        const e = 1 + ((usedIdx & mask) << 1);
        used32[e] = avail[2 + (lastAvail & mask)]!;
        used32[e + 1] = usedLen;
        lastAvail = (lastAvail + 1) & 0xffff;
        usedIdx = (usedIdx + 1) & 0xffff;
      }
      Atomics.store(used16, 1, usedIdx);
    };
  }
  const desc16 = new Uint16Array(buffer, byteOffset, 8 * q.size);
  const desc32 = new Uint32Array(buffer, byteOffset, 4 * q.size);
  let pos = 0, wrap = 1;
  return () => {
    for (;;) {
      const f = desc16[(pos << 3) + 7]!;
      if (((f >> 7) & 1) !== wrap || f >> 15 === wrap) return;
      desc32[(pos << 2) + 2] = usedLen; // the id is in place already
      desc16[(pos << 3) + 7] = wrap ? 0x8080 : 0;
      if (++pos === q.size) {
        pos = 0;
        wrap ^= 1;
      }
    }
  };
}
