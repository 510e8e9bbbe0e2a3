/**
 * The fuzz harness for the virtqueues' bulk slot path (useSlots / addSlots / pollSlots), the
 * packet fast path: one seeded iteration drives a queue in slot mode against
 * {@link SimQueue}, honest or hostile, with the same pass rule as sim_fuzz.ts — correct
 * progress, or a DeviceError after which the queue stays broken.
 *
 * @module
 */
import { DeviceError } from "../lib/errors.ts";
import { createVirtqueue, type RingFormat } from "../lib/queue/virtqueue.ts";
import { FakeDma } from "./fake_dma.ts";
import { type SimBuffer, SimQueue } from "./sim_device.ts";
import {
  expectBroken,
  fail,
  FuzzFailure,
  type FuzzResult,
  hostileWrite,
  prng,
  STEPS,
} from "./sim_fuzz.ts";

/**
 * What a bulk-slot iteration may do besides well-formed calls. Each switch is on by default
 * ({@link ALL_SLOT_CHECKS}); turning one off narrows a search while a bug it trips is open
 * (the three the fuzzer found are pinned at the end of tests/unit/queue_add_slots_test.ts).
 */
export interface FuzzSlotsOptions {
  /**
   * Deliberate caller mistakes in addSlots (a slot in flight, out of range, twice in one
   * batch, a length above the stride), which must throw RangeError and leave the queue as
   * documented. "first": the bad slot is the first of its batch; "any": anywhere in it.
   */
  readonly callerMistakes?: "none" | "first" | "any";
  /** A length above the stride counts among the mistakes (IN_ORDER included). */
  readonly strideMistakes?: boolean;
  /** Collect now and then with pollUsed (token = slot), which the bulk mode allows. */
  readonly pollUsed?: boolean;
}

/** Every switch on: the long run's default. */
export const ALL_SLOT_CHECKS: Required<FuzzSlotsOptions> = {
  callerMistakes: "any",
  strideMistakes: true,
  pollUsed: true,
};

const SLOT_FREE = 0, SLOT_ADDED = 1, SLOT_PUBLISHED = 2;
const UNSET = 0xffff_ffff; // sentinel in output arrays: "the queue did not write here"

/**
 * Runs one bulk-slot iteration: a queue in useSlots mode (random size, stride, direction,
 * EVENT_IDX, IN_ORDER) fed by addSlots from a wrapping list, kicked, completed by an honest or
 * hostile {@link SimQueue}, collected by pollSlots at random `at`/`max`. Throws FuzzFailure
 * when the queue hands back a slot it should not, a wrong length, loses or invents a buffer,
 * miscounts, writes outside the window it was given, or throws anything but DeviceError for a
 * device's doing (RangeError only for the deliberate caller mistakes).
 */
export function fuzzSlotsIteration(
  seed: number,
  format: RingFormat,
  options: FuzzSlotsOptions = ALL_SLOT_CHECKS,
): FuzzResult {
  const { callerMistakes = "any", strideMistakes = true, pollUsed = true } = options;
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const size = format === "split" ? 1 << int(7) : 1 + int(64);
  const eventIdx = rand() < 0.5;
  const inOrder = rand() < 0.25;
  const hostile = rand() < 0.5;
  const writable = rand() < 0.5;
  const stride = rand() < 0.2 ? 1 + int(8) : 1 + int(2048);
  const mistakes = callerMistakes !== "none" && rand() < 0.5;
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size, eventIdx });
  const q = createVirtqueue({ dma, size, format, eventIdx, inOrder, notify: sim.notify });
  sim.attach(q.addresses);
  const mem = dma.alloc(size * stride, 4096);
  q.useSlots(mem.iova, stride, writable);

  const addList = new Uint32Array(1 + int(2 * size)); // where addSlots reads, wrapping
  const pollList = new Uint32Array(1 + int(2 * size)); // where pollSlots writes, wrapping
  const lens = new Uint32Array(size); // lens[slot], read by addSlots
  const usedLens = new Uint32Array(size); // usedLens[slot], written by pollSlots
  const tokens = new Uint32Array(size + 1), tokenLens = new Uint32Array(size + 1);
  const state = new Uint8Array(size); // SLOT_FREE / SLOT_ADDED / SLOT_PUBLISHED
  const posted = new Float64Array(size); // the length slot s was added with
  const free: number[] = Array.from({ length: size }, (_, i) => i);
  const deviceDone = new Map<number, number>(); // slot → len the honest device wrote
  const usedOrder: number[] = []; // slots in the order the honest device completed them
  const taken: { buf: SimBuffer; slot: number }[] = [];
  let inFlight = 0, unpublished = 0, untaken = 0, completed = 0;
  let corrupted = false; // the device lied: its own view of the rings is no longer reliable

  const slotOf = (buf: SimBuffer): number => {
    const seg = buf.out[0] ?? buf.in[0];
    if (!seg || buf.out.length + buf.in.length !== 1) fail("a slot is one segment");
    const off = seg.byteOffset - mem.bytes.byteOffset;
    const slot = off / stride;
    if (seg.buffer !== mem.bytes.buffer || !Number.isInteger(slot) || slot < 0 || slot >= size) {
      fail(`device saw a segment at offset ${off} that is no slot`);
    }
    if (state[slot] !== SLOT_PUBLISHED) fail(`device saw slot ${slot} in state ${state[slot]}`);
    const wantIn = writable ? 1 : 0;
    if (buf.in.length !== wantIn || seg.length !== posted[slot]) {
      fail(`device saw slot ${slot} as ${buf.out.length}|${buf.in.length} of ${seg.length} B`);
    }
    return slot;
  };

  const markAdded = (slot: number): void => {
    state[slot] = SLOT_ADDED;
    posted[slot] = lens[slot]!;
    inFlight++;
    unpublished++;
  };

  const randomLen = (): number => {
    const r = rand();
    return r < 0.1 ? 0 : r < 0.4 ? stride : 1 + int(stride);
  };

  const post = (): void => {
    // Free slots in random order, at most one list's worth, from a random wrapping start.
    const count = int(Math.min(free.length, addList.length) + 1);
    const batch: number[] = [];
    for (let k = 0; k < count; k++) batch.push(free.splice(int(free.length), 1)[0]!);
    for (const s of batch) lens[s] = randomLen();
    let bad = -1; // position of a deliberate mistake
    if (mistakes && rand() < 0.15 && batch.length < addList.length) {
      bad = callerMistakes === "first" ? 0 : int(batch.length + 1);
      const kinds = ["range", "twice", "flight", ...(strideMistakes ? ["stride"] : [])];
      const kind = kinds[int(kinds.length)]!;
      const busy = state.findIndex((s) => s !== SLOT_FREE);
      if (kind === "range") batch.splice(bad, 0, size + int(1000));
      else if (kind === "flight" && busy >= 0) batch.splice(bad, 0, busy);
      else if (kind === "twice" && bad > 0) batch.splice(bad, 0, batch[int(bad)]!);
      else if (kind === "stride" && bad < batch.length) lens[batch[bad]!] = stride + 1 + int(9);
      else bad = -1;
    }
    const from = int(addList.length);
    batch.forEach((s, k) => (addList[(from + k) % addList.length] = s));
    const before = q.inFlight;
    if (bad < 0) {
      if (rand() < 0.1 && batch.length === 1) {
        q.addSlot(batch[0]!, mem.iova + batch[0]! * stride, lens[batch[0]!]!, writable);
      } else q.addSlots(addList, from, batch.length, lens);
      for (const s of batch) markAdded(s);
    } else {
      try {
        q.addSlots(addList, from, batch.length, lens);
        fail(
          `addSlots took a bad slot or length at ${bad} of [${batch}] ` +
            `(stride ${stride}, lens [${batch.map((s) => lens[s])}], in order ${inOrder})`,
        );
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
      // Nothing of the batch is added — or, under IN_ORDER (one by one), what precedes `bad`.
      const added = q.inFlight - before;
      if (added !== 0 && !(inOrder && added === bad)) {
        fail(`a refused addSlots added ${added} slots (bad one at ${bad}, in order ${inOrder})`);
      }
      for (let k = 0; k < added; k++) markAdded(batch[k]!);
      for (const s of batch) {
        if (s < size && state[s] === SLOT_FREE && !free.includes(s)) free.push(s);
      }
    }
    // The queue must not read lens again for slots already added.
    if (rand() < 0.3) { for (let s = 0; s < size; s++) lens[s] = int(0x1_0000_0000); }
  };

  const kick = (): void => {
    const mustNotify = !corrupted && unpublished > 0 && untaken === 0;
    const notified = q.kick();
    if (mustNotify && !notified) fail("kick() did not notify a device that was waiting");
    for (let s = 0; s < size; s++) if (state[s] === SLOT_ADDED) state[s] = SLOT_PUBLISHED;
    untaken += unpublished;
    unpublished = 0;
  };

  const deviceTake = (max: number): void => {
    for (const buf of sim.take(max)) {
      taken.push({ buf, slot: slotOf(buf) });
      untaken--;
    }
  };

  const deviceHonest = (): void => {
    deviceTake(int(size + 1));
    let n = int(taken.length + 1);
    if (inOrder && n > 1 && rand() < 0.5) {
      // §2.7.9 / §2.8.8: one used entry for the last buffer of an in-order batch.
      const batch = taken.splice(0, n);
      const last = batch[batch.length - 1]!;
      const len = int(last.buf.writableLen + 1);
      for (const b of batch) {
        deviceDone.set(b.slot, b === last ? len : 0);
        usedOrder.push(b.slot);
      }
      sim.writeUsed(last.buf.id, len, format === "packed" ? batch.length : 1);
    } else {
      while (n-- > 0) {
        const { buf, slot } = taken.splice(inOrder ? 0 : int(taken.length), 1)[0]!;
        const len = int(buf.writableLen + 1);
        deviceDone.set(slot, len);
        usedOrder.push(slot);
        sim.complete(buf, len);
      }
    }
    sim.publish();
  };

  const deviceHostile = (): void => {
    corrupted = true;
    const near = taken[int(taken.length)];
    // Half the time a near-miss lie (6-8) that only a precise check catches.
    const kind = rand() < 0.5 ? 6 + int(3) : int(6);
    switch (kind) {
      case 6: // a slot added but not kicked yet (or any slot, if none is)
        sim.writeUsed(Math.max(0, state.indexOf(SLOT_ADDED)), 0);
        sim.publish();
        break;
      case 7: // one byte (or a few) more than the slot's writable length
        if (near) sim.complete(near.buf, near.buf.writableLen + 1 + int(2) * int(4));
        sim.publish();
        break;
      case 8: // the same buffer twice
        if (near) { for (let k = 0; k < 2; k++) sim.complete(near.buf, 0); }
        sim.publish();
        break;
      case 2:
        if (format === "split") sim.rawWriteUsedElem(int(size), int(size), int(stride + 2));
        else {
          sim.rawWritePackedDesc(int(size), int(size), int(stride + 2), rand() < 0.5 ? 0x8080 : 0);
        }
        break;
      default:
        hostileWrite(kind, sim, format, size, rand);
    }
  };

  /** Checks one slot handed back with `len`; `fresh` = first time in this call. */
  const returned = (slot: number, len: number, how: string): void => {
    if (!(slot < size) || state[slot] !== SLOT_PUBLISHED) {
      fail(`${how} returned slot ${slot}, which is not published and in flight`);
    }
    const bound = writable ? posted[slot]! : 0;
    if (len > bound) fail(`${how}: slot ${slot} len ${len} above its ${bound} writable bytes`);
    if (!corrupted) {
      const want = usedOrder.shift();
      if (want !== slot) fail(`${how} returned slot ${slot}, the device completed ${want} next`);
      if (deviceDone.get(slot) !== len) {
        fail(`${how}: slot ${slot} len ${len}, the device wrote ${deviceDone.get(slot)}`);
      }
    }
    deviceDone.delete(slot);
    state[slot] = SLOT_FREE;
    free.push(slot);
    inFlight--;
    completed++;
  };

  const collect = (): void => {
    if (pollUsed && rand() < 0.2) {
      const cap = 1 + int(size);
      const n = q.pollUsed(tokens.subarray(0, cap), tokenLens.subarray(0, cap));
      if (!(n >= 0 && n <= cap)) fail(`pollUsed returned ${n} for capacity ${cap}`);
      for (let k = 0; k < n; k++) returned(tokens[k]!, tokenLens[k]!, "pollUsed");
      return;
    }
    const cap = pollList.length;
    const at = int(cap), max = int(cap + 1);
    const withLens = rand() < 0.8;
    pollList.fill(UNSET);
    usedLens.fill(UNSET);
    const n = q.pollSlots(pollList, at, max, withLens ? usedLens : undefined);
    if (!(Number.isInteger(n) && n >= 0 && n <= max)) fail(`pollSlots returned ${n}, max ${max}`);
    const got: number[] = [];
    for (let k = 0; k < n; k++) got.push(pollList[(at + k) % cap]!);
    for (let k = n; k < cap; k++) {
      if (pollList[(at + k) % cap] !== UNSET) fail(`pollSlots wrote outside its ${n} entries`);
    }
    for (let s = 0; s < size; s++) {
      const written = usedLens[s] !== UNSET;
      if (written && !(withLens && got.includes(s))) fail(`pollSlots wrote usedLens[${s}]`);
    }
    for (const slot of got) {
      const len = withLens ? usedLens[slot]! : (deviceDone.get(slot) ?? 0);
      if (withLens && len === UNSET) fail(`pollSlots returned slot ${slot} without its length`);
      returned(slot, len, "pollSlots");
    }
  };

  const checkCounts = (): void => {
    if (q.inFlight !== inFlight) fail(`queue has ${q.inFlight} in flight, model ${inFlight}`);
    if (q.freeDescriptors !== size - inFlight) {
      fail(`${q.freeDescriptors} free descriptors with ${inFlight} of ${size} in flight`);
    }
  };

  try {
    for (let step = 0; step < STEPS; step++) {
      const r = rand();
      if (r < 0.3) post();
      else if (r < 0.42) kick();
      else if (r < 0.72) corrupted ? collect() : deviceHonest();
      else if (r < 0.78 && hostile) deviceHostile();
      else collect();
      const irq = rand();
      if (irq < 0.08) q.enableInterrupts();
      else if (irq < 0.16) q.disableInterrupts();
      else if (irq < 0.2) q.hasUsed();
      checkCounts();
    }
    if (!corrupted) {
      // Drain: an honest device finishes everything, then every slot must be usable again.
      kick();
      for (let round = 0; round < 4 * size + 8 && inFlight > 0; round++) {
        deviceTake(Infinity);
        for (const { buf, slot } of taken.splice(0)) {
          deviceDone.set(slot, buf.writableLen);
          usedOrder.push(slot);
          sim.complete(buf, buf.writableLen);
        }
        sim.publish();
        collect();
      }
      if (inFlight > 0) fail(`${inFlight} slots never came back`);
      checkCounts();
      const all = Uint32Array.from({ length: size }, (_, i) => i);
      for (let s = 0; s < size; s++) lens[s] = randomLen();
      free.forEach((s) => markAdded(s));
      q.addSlots(all, 0, size, lens);
      kick();
      deviceTake(Infinity);
      if (untaken !== 0 || taken.length !== size) {
        fail(`after the drain the device took ${taken.length} of ${size} slots`);
      }
      checkCounts();
    }
    return { outcome: "progress", completed, hostile };
  } catch (e) {
    if (e instanceof FuzzFailure) {
      throw new FuzzFailure(`seed ${seed} ${format} slots: ${e.message}`);
    }
    if (!(e instanceof DeviceError)) {
      throw new FuzzFailure(`seed ${seed} ${format} slots: unexpected ${e}`, { cause: e });
    }
    if (!corrupted) {
      fail(`seed ${seed} ${format} slots: DeviceError from an honest device: ${e.message}`);
    }
    expectBroken(q, [
      () => q.kick(),
      () => q.pollSlots(pollList, 0, pollList.length, usedLens),
      () => q.addSlots(Uint32Array.of(0), 0, 1, lens),
      () => q.pollUsed(tokens, tokenLens),
      () => q.hasUsed(),
      () => q.enableInterrupts(),
    ]);
    return { outcome: "device-error", completed, hostile };
  }
}
