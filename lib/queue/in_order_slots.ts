/**
 * The bulk slot calls (Virtqueue.addSlots / pollSlots) under VIRTIO_F_IN_ORDER, for both ring
 * formats. There a device may complete a whole batch with one used entry (§2.7.9, §2.8.8),
 * which the one-by-one path (addSlot / pollUsed) already handles through the order it keeps
 * (BufferStates.order), so these go through it: all-or-nothing checks first, then one call per
 * slot. Not the fast path — QEMU does not offer IN_ORDER — but the same contract.
 *
 * @module
 */
import type { SlotLayout } from "./shadow.ts";
import type { Virtqueue } from "./types.ts";

/** Scratch for one queue's IN_ORDER bulk calls, made on first use. */
export class InOrderSlots {
  readonly #mark: Uint8Array;
  readonly #ids: Uint32Array;
  readonly #lens: Uint32Array;

  constructor(size: number) {
    this.#mark = new Uint8Array(size);
    this.#ids = new Uint32Array(size);
    this.#lens = new Uint32Array(size);
  }

  /**
   * addSlots through addSlot: the whole batch is checked first (in range, not in flight, not
   * twice, length within the stride), so a refused batch adds nothing, as on the fast path.
   */
  add(
    q: Pick<Virtqueue, "addSlot">,
    layout: SlotLayout,
    inFlight: Float64Array,
    slots: Uint32Array,
    from: number,
    count: number,
    lens: Uint32Array,
  ): void {
    checkSlotBatch(slots, from, count, lens, layout.stride, inFlight, this.#mark);
    for (let k = 0, i = from; k < count; k++, i = i + 1 === slots.length ? 0 : i + 1) {
      const s = slots[i]!;
      q.addSlot(s, layout.base + s * layout.stride, lens[s]!, layout.deviceWritable);
    }
  }

  /** pollSlots through pollUsed (token = slot): a batch entry hands back every slot it covers. */
  poll(
    q: Pick<Virtqueue, "pollUsed">,
    slots: Uint32Array,
    at: number,
    max: number,
    usedLens?: Uint32Array,
  ): number {
    const ids = this.#ids, lens = this.#lens;
    const n = q.pollUsed(ids.subarray(0, Math.min(max, ids.length)), lens);
    for (let k = 0, j = at; k < n; k++, j = j + 1 === slots.length ? 0 : j + 1) {
      slots[j] = ids[k]!;
      if (usedLens !== undefined) usedLens[ids[k]!] = lens[k]!;
    }
    return n;
  }
}

/**
 * Checks a whole addSlots batch before anything is added: every slot in range, not in
 * flight, not twice in the batch, its length within the stride. `mark` is scratch of `size`
 * bytes, left zeroed. Throws RangeError.
 */
export function checkSlotBatch(
  slots: Uint32Array,
  from: number,
  count: number,
  lens: Uint32Array,
  stride: number,
  inFlight: Float64Array,
  mark: Uint8Array,
): void {
  const size = inFlight.length;
  let bad = "";
  let k = 0;
  for (let i = from; k < count; k++, i = i + 1 === slots.length ? 0 : i + 1) {
    const s = slots[i]!;
    if (!(s < size) || inFlight[s] !== 0 || mark[s] !== 0) {
      bad = `slot ${s} is out of range or already in flight`;
      break;
    }
    if (lens[s]! > stride) {
      bad = `slot ${s}: length ${lens[s]} exceeds the ${stride}-byte slot`;
      break;
    }
    mark[s] = 1;
  }
  for (let j = 0, i = from; j < k; j++, i = i + 1 === slots.length ? 0 : i + 1) {
    mark[slots[i]!] = 0;
  }
  if (bad) throw new RangeError(bad);
}
