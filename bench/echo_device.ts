/**
 * A minimal device for host benchmarks: on each call it completes every buffer the driver
 * made available, with typed arrays straight on the ring memory (no parsing, no checks), so
 * a benchmark measures the driver's side. `usedLen` gives the length it reports (0 for
 * transmit; header + frame for receive, whose slots were filled with frames beforehand).
 * Not a test double: testing/sim_device.ts is the device that checks the driver.
 *
 * @module
 */
import * as L from "../lib/queue/layout.ts";
import type { Virtqueue } from "../lib/queue/virtqueue.ts";

/** Returns a step function that completes everything available in `q`. */
export function echoDevice(q: Virtqueue, usedLen: () => number): () => void {
  const { buffer, byteOffset } = q.region.bytes;
  const mask = q.size - 1;
  if (q.format === "split") {
    const layout = L.splitLayout(q.size, false);
    const avail = new Uint16Array(buffer, byteOffset + layout.avail, 3 + q.size);
    const used16 = new Uint16Array(buffer, byteOffset + layout.used, 2);
    const used32 = new Uint32Array(buffer, byteOffset + layout.used, 1 + 2 * q.size);
    let lastAvail = 0;
    let usedIdx = 0;
    return () => {
      const idx = Atomics.load(avail, 1);
      if (lastAvail === idx) return;
      const len = usedLen();
      while (lastAvail !== idx) {
        const e = 1 + ((usedIdx & mask) << 1);
        used32[e] = avail[2 + (lastAvail & mask)]!;
        used32[e + 1] = len;
        lastAvail = (lastAvail + 1) & 0xffff;
        usedIdx = (usedIdx + 1) & 0xffff;
      }
      Atomics.store(used16, 1, usedIdx);
    };
  }
  const desc16 = new Uint16Array(buffer, byteOffset, 8 * q.size);
  const desc32 = new Uint32Array(buffer, byteOffset, 4 * q.size);
  let pos = 0;
  let wrap = 1;
  return () => {
    const len = usedLen();
    for (;;) {
      const f = desc16[(pos << 3) + 7]!; // one thread: no atomics needed (they are calls)
      if (((f >> 7) & 1) !== wrap || f >> 15 === wrap) return;
      // One descriptor per buffer: its id is already in place; write len, then used flags.
      desc32[(pos << 2) + 2] = len;
      desc16[(pos << 3) + 7] = wrap ? 0x8080 : 0;
      if (++pos === q.size) {
        pos = 0;
        wrap ^= 1;
      }
    }
  };
}
