/**
 * A fuzz harness for the virtqueues: one seeded iteration builds a queue with random size and
 * options, drives it against {@link SimQueue}, and — in "hostile" iterations — lets the device
 * write arbitrary used entries, indices, flags, lengths and descriptor bytes.
 *
 * An iteration passes when it ends in correct progress (every buffer handed back exactly once,
 * with a length the buffer can hold, and — with an honest device — exactly the segments and
 * lengths the device saw and wrote) or in a {@link DeviceError} after which the queue stays
 * broken. Any other exception, or a bookkeeping mismatch, is a {@link FuzzFailure}. Every
 * loop is bounded, so a hang cannot hide.
 *
 * @module
 */

import { DeviceError } from "../lib/errors.ts";
import {
  createVirtqueue,
  type RingFormat,
  type Segment,
  type Virtqueue,
} from "../lib/queue/virtqueue.ts";
import { FakeDma } from "./fake_dma.ts";
import { type SimBuffer, SimQueue } from "./sim_device.ts";

/** The queue did something no input may make it do. */
export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

export type FuzzOutcome = "progress" | "device-error";

export interface FuzzResult {
  readonly outcome: FuzzOutcome;
  /** Buffers the driver got back. */
  readonly completed: number;
  readonly hostile: boolean;
}

/** mulberry32: small, fast, good enough to pick fuzz inputs from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SLOT = 1024; // bytes of data memory per buffer; a chain has ≤ 4 segments of ≤ 256
/** Steps per iteration (shared with sim_fuzz_slots.ts). */
export const STEPS = 120;

interface Expect {
  readonly slot: number;
  readonly out: number[]; // lengths
  readonly in: number[];
  readonly writable: number;
}

/** Throws a FuzzFailure (shared with sim_fuzz_slots.ts). */
export function fail(msg: string): never {
  throw new FuzzFailure(msg);
}

/**
 * The pass rule's second half (shared with sim_fuzz_slots.ts): after a DeviceError the queue is
 * marked broken and every call on it throws a DeviceError again.
 */
export function expectBroken(q: Virtqueue, calls: readonly (() => unknown)[]): void {
  if (!q.broken) fail("DeviceError but the queue is not marked broken");
  for (const call of calls) {
    try {
      call();
      fail("a broken queue accepted a call");
    } catch (again) {
      if (!(again instanceof DeviceError)) throw again;
    }
  }
}

/** Runs one iteration; throws FuzzFailure when the queue misbehaves. */
export function fuzzIteration(seed: number, format: RingFormat): FuzzResult {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const size = format === "split" ? 1 << int(7) : 1 + int(64);
  const eventIdx = rand() < 0.5;
  const indirect = rand() < 0.5;
  const inOrder = rand() < 0.25;
  const hostile = rand() < 0.5;
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size, eventIdx });
  const q = createVirtqueue({ dma, size, format, eventIdx, indirect, inOrder, notify: sim.notify });
  sim.attach(q.addresses);
  const data = dma.alloc(SLOT * size);
  const freeSlots: number[] = Array.from({ length: size }, (_, i) => i);
  const outstanding = new Map<number, Expect>(); // token → what was posted
  const deviceDone = new Map<number, number>(); // token → len the honest device wrote
  const taken: { buf: SimBuffer; token: number }[] = [];
  const tokens = new Uint32Array(size + 1);
  const lens = new Uint32Array(size + 1);
  let nextToken = 1;
  let completed = 0;
  let corrupted = false; // the device lied: its own view of the ring is no longer reliable

  const tokenOfBuffer = (buf: SimBuffer): number => {
    const first = buf.out[0] ?? buf.in[0];
    if (!first) fail("device saw an empty buffer");
    const slot = Math.floor((first.byteOffset - data.bytes.byteOffset) / SLOT);
    for (const [token, e] of outstanding) if (e.slot === slot) return token;
    return fail(`device saw a buffer in slot ${slot} that is not outstanding`);
  };

  const post = (): void => {
    const slot = freeSlots.pop();
    if (slot === undefined) return;
    const nOut = int(3), nIn = int(3) + (nOut === 0 ? 1 : 0);
    const base = data.iova + slot * SLOT;
    const segs = (n: number, k0: number): Segment[] =>
      Array.from({ length: n }, (_, k) => ({ iova: base + (k0 + k) * 256, len: 1 + int(256) }));
    const out = segs(nOut, 0), inn = segs(nIn, nOut);
    const token = nextToken++;
    const single = out.length + inn.length === 1;
    const useIndirect = indirect && rand() < 0.5;
    if (!useIndirect && out.length + inn.length > size) {
      freeSlots.push(slot); // a chain longer than the ring is a caller error (RangeError)
      return;
    }
    const ok = single && rand() < 0.5
      ? q.addOne(out[0]?.iova ?? inn[0]!.iova, (out[0] ?? inn[0])!.len, inn.length === 1, token)
      : q.addBuffer(out, inn, token, useIndirect);
    if (!ok) {
      freeSlots.push(slot);
      return;
    }
    const writable = inn.reduce((n, s) => n + s.len, 0);
    outstanding.set(token, {
      slot,
      out: out.map((s) => s.len),
      in: inn.map((s) => s.len),
      writable,
    });
  };

  const deviceHonest = (): void => {
    for (const buf of sim.take(int(size + 1))) {
      const token = tokenOfBuffer(buf);
      const e = outstanding.get(token)!;
      const got = `${buf.out.map((s) => s.length)}|${buf.in.map((s) => s.length)}`;
      if (got !== `${e.out}|${e.in}`) {
        fail(`device saw ${got} for a buffer posted as ${e.out}|${e.in}`);
      }
      taken.push({ buf, token });
    }
    let n = int(taken.length + 1);
    if (inOrder && n > 1 && rand() < 0.5) {
      // §2.7.9 / §2.8.8: one used entry for the last buffer of an in-order batch.
      const batch = taken.splice(0, n);
      const last = batch[batch.length - 1]!;
      const len = int(last.buf.writableLen + 1);
      for (const b of batch) deviceDone.set(b.token, b === last ? len : 0);
      sim.writeUsed(last.buf.id, len, batch.reduce((s, b) => s + b.buf.descCount, 0));
    } else {
      while (n-- > 0) {
        const i = inOrder ? 0 : int(taken.length);
        const { buf, token } = taken.splice(i, 1)[0]!;
        const len = int(buf.writableLen + 1);
        deviceDone.set(token, len);
        sim.complete(buf, len);
      }
    }
    sim.publish();
  };

  const deviceHostile = (): void => {
    corrupted = true;
    const big = () => (rand() < 0.5 ? int(size + 2) : int(0x1_0000_0000));
    const kind = int(6);
    switch (kind) {
      case 2:
        if (format === "split") sim.rawWriteUsedElem(int(size), big(), big());
        else sim.rawWritePackedDesc(int(size), int(size), int(300), rand() < 0.5 ? 0x8080 : 0);
        break;
      default:
        hostileWrite(kind, sim, format, size, rand);
    }
  };

  const collect = (): void => {
    const cap = 1 + int(size);
    const n = q.pollUsed(tokens.subarray(0, cap), lens.subarray(0, cap));
    if (n < 0 || n > cap) fail(`pollUsed returned ${n} for capacity ${cap}`);
    for (let i = 0; i < n; i++) {
      const token = tokens[i]!, len = lens[i]!;
      const e = outstanding.get(token);
      if (!e) fail(`token ${token} returned but not outstanding`);
      if (len > e.writable) fail(`len ${len} above writable ${e.writable} for token ${token}`);
      if (!corrupted) {
        const want = deviceDone.get(token);
        if (want === undefined) fail(`token ${token} returned before the device completed it`);
        if (want !== len) fail(`token ${token}: len ${len}, device wrote ${want}`);
      }
      deviceDone.delete(token);
      outstanding.delete(token);
      freeSlots.push(e.slot);
      completed++;
    }
  };

  const checkInvariants = (): void => {
    if (q.inFlight !== outstanding.size) {
      fail(`queue has ${q.inFlight} in flight, model ${outstanding.size}`);
    }
    if (q.freeDescriptors < 0 || q.freeDescriptors > size) fail(`free ${q.freeDescriptors}`);
  };

  try {
    for (let step = 0; step < STEPS; step++) {
      const r = rand();
      if (r < 0.35) { for (let k = int(4); k >= 0; k--) post(); }
      else if (r < 0.45) q.kick();
      else if (r < 0.75 && !corrupted) deviceHonest();
      else if (r < 0.82 && hostile) deviceHostile();
      else collect();
      const irq = rand();
      if (irq < 0.1) q.enableInterrupts();
      else if (irq < 0.2) q.disableInterrupts();
      checkInvariants();
    }
    if (!corrupted) {
      // Drain: an honest device finishes everything; bounded rounds.
      q.kick();
      for (let round = 0; round < 4 * size + 8 && outstanding.size > 0; round++) {
        const before = sim.take();
        for (const buf of before) taken.push({ buf, token: tokenOfBuffer(buf) });
        while (taken.length > 0) {
          const { buf, token } = taken.shift()!;
          deviceDone.set(token, buf.writableLen);
          sim.complete(buf, buf.writableLen);
        }
        sim.publish();
        collect();
      }
      if (outstanding.size > 0) fail(`${outstanding.size} buffers never came back`);
      checkInvariants();
    }
    return { outcome: "progress", completed, hostile };
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (!(e instanceof DeviceError)) {
      throw new FuzzFailure(`seed ${seed} ${format}: unexpected ${e}`, { cause: e });
    }
    if (!corrupted) fail(`seed ${seed} ${format}: DeviceError from an honest device: ${e.message}`);
    expectBroken(q, [() => q.kick(), () => q.pollUsed(tokens, lens), () => q.hasUsed()]);
    return { outcome: "device-error", completed, hostile };
  }
}

/**
 * The device lies both harnesses tell the same way (`kind` 0, 1, 3, 4, 5): a used entry with
 * any id and length, an index jump or a wild packed descriptor, scribbled descriptors, and
 * random words in the device's and even the driver's event areas.
 */
export function hostileWrite(
  kind: number,
  sim: SimQueue,
  format: RingFormat,
  size: number,
  rand: () => number,
): void {
  const int = (n: number) => Math.floor(rand() * n);
  const big = () => (rand() < 0.5 ? int(size + 2) : int(0x1_0000_0000));
  switch (kind) {
    case 0:
      sim.writeUsed(big(), big(), 1 + int(3));
      sim.publish();
      break;
    case 1:
      if (format === "split") sim.rawSetUsedIdx(int(0x10000));
      else sim.rawWritePackedDesc(int(size), big(), big(), int(0x10000));
      break;
    case 3:
      sim.scribbleDescriptors(rand);
      break;
    case 4: // event suppression fields and flags the device owns
      sim.deviceArea.setUint16(int(sim.deviceArea.byteLength - 1) & ~1, int(0x10000), true);
      break;
    default: // even the driver-owned area: the driver must never read it back
      sim.driverArea.setUint16(int(sim.driverArea.byteLength - 1) & ~1, int(0x10000), true);
  }
}
