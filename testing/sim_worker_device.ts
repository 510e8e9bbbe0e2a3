/**
 * A device that runs in a Worker, on the same SharedArrayBuffer ring memory as the driver, to
 * test the memory-ordering rules of §2.7.13 / §2.7.14 / §2.8.21 / §2.8.22 under real
 * concurrency. It completes single-descriptor transmit buffers as fast as it can and checks
 * that what it reads after seeing an index (split) or flags (packed) is already complete:
 * each slot starts with a u32 sequence number `seq`, and the descriptor's len must be
 * `60 + seq % 5` and its address the slot's. Anything else counts as an ordering error.
 *
 * Control words (Int32Array on a SharedArrayBuffer): 0 stop request, 1 errors, 2 completed,
 * 3 running.
 *
 * @module
 */

export interface WorkerDeviceSetup {
  readonly format: "split" | "packed";
  readonly size: number;
  readonly ring: SharedArrayBuffer;
  /** Byte offsets inside `ring`: split desc/avail/used; packed desc only. */
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly slots: SharedArrayBuffer;
  readonly slotsIova: number;
  readonly slotSize: number;
  readonly control: SharedArrayBuffer;
}

export const CONTROL_STOP = 0;
export const CONTROL_ERRORS = 1;
export const CONTROL_COMPLETED = 2;
export const CONTROL_RUNNING = 3;

/** Checks one descriptor (addr words, len) against the slot it points to. */
function checkDescriptor(
  s: WorkerDeviceSetup,
  slotWords: Uint32Array,
  lo: number,
  hi: number,
  len: number,
): boolean {
  const addr = lo + hi * 0x1_0000_0000;
  const off = addr - s.slotsIova;
  if (off < 0 || off % s.slotSize !== 0 || off >= s.slots.byteLength) return false;
  const seq = slotWords[off / 4]!;
  return len === 60 + (seq % 5);
}

function runSplit(s: WorkerDeviceSetup, control: Int32Array): void {
  const mask = s.size - 1;
  const desc32 = new Uint32Array(s.ring, s.desc, 4 * s.size);
  const avail16 = new Uint16Array(s.ring, s.avail, 3 + s.size);
  const used16 = new Uint16Array(s.ring, s.used, 2);
  const used32 = new Uint32Array(s.ring, s.used, 1 + 2 * s.size);
  const slotWords = new Uint32Array(s.slots);
  let lastAvail = 0;
  let usedIdx = 0;
  let completed = 0;
  let errors = 0;
  while (Atomics.load(control, CONTROL_STOP) === 0) {
    const idx = Atomics.load(avail16, 1); // acquire: entries and descriptors below are complete
    while (lastAvail !== idx) {
      const head = avail16[2 + (lastAvail & mask)]!;
      if (head >= s.size) errors++;
      else {
        const w = head << 2;
        if (!checkDescriptor(s, slotWords, desc32[w]!, desc32[w + 1]!, desc32[w + 2]!)) errors++;
      }
      const e = 1 + ((usedIdx & mask) << 1);
      used32[e] = head;
      used32[e + 1] = 0;
      lastAvail = (lastAvail + 1) & 0xffff;
      usedIdx = (usedIdx + 1) & 0xffff;
      completed++;
    }
    Atomics.store(used16, 1, usedIdx); // release: used entries before used.idx
    Atomics.store(control, CONTROL_COMPLETED, completed);
    Atomics.store(control, CONTROL_ERRORS, errors);
  }
}

function runPacked(s: WorkerDeviceSetup, control: Int32Array): void {
  const desc16 = new Uint16Array(s.ring, s.desc, 8 * s.size);
  const desc32 = new Uint32Array(s.ring, s.desc, 4 * s.size);
  const slotWords = new Uint32Array(s.slots);
  let pos = 0;
  let wrap = 1;
  let completed = 0;
  let errors = 0;
  while (Atomics.load(control, CONTROL_STOP) === 0) {
    for (let budget = s.size; budget > 0; budget--) {
      const f = Atomics.load(desc16, (pos << 3) + 7); // acquire: then addr/len/id
      if (((f >> 7) & 1) !== wrap || f >> 15 === wrap) break;
      const w = pos << 2;
      if (!checkDescriptor(s, slotWords, desc32[w]!, desc32[w + 1]!, desc32[w + 2]!)) errors++;
      desc32[w + 2] = 0; // used len
      Atomics.store(desc16, (pos << 3) + 7, wrap ? 0x8080 : 0); // release: used flags last
      if (++pos === s.size) {
        pos = 0;
        wrap ^= 1;
      }
      completed++;
    }
    Atomics.store(control, CONTROL_COMPLETED, completed);
    Atomics.store(control, CONTROL_ERRORS, errors);
  }
}

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = (ev: MessageEvent<WorkerDeviceSetup>) => {
  const s = ev.data;
  const control = new Int32Array(s.control);
  Atomics.store(control, CONTROL_RUNNING, 1);
  if (s.format === "split") runSplit(s, control);
  else runPacked(s, control);
  Atomics.store(control, CONTROL_RUNNING, 0);
  scope.postMessage("done");
};
