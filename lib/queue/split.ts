/**
 * The bulk slot path of a split virtqueue (VIRTIO 1.2 §2.7), over the rings and one-by-one
 * calls of {@link SplitRing} (split_ring.ts, which documents the memory ordering).
 *
 * Slot s is descriptor s and its own token, one descriptor each. A descriptor keeps what it was
 * last given, so per buffer usually only the avail entry is written (§2.7.13.2).
 *
 * @module
 */

import { AVAIL_RING, USED_IDX, VIRTQ_DESC_F_WRITE } from "./layout.ts";
import { checkSegment, iovaHigh, iovaLow } from "./shadow.ts";
import { SplitRing } from "./split_ring.ts";
import type { Virtqueue, VirtqueueOptions } from "./types.ts";

/** A split virtqueue: {@link SplitRing} plus the fixed-slot and bulk slot calls. */
export class SplitQueue extends SplitRing implements Virtqueue {
  // Fixed-slot mode (addSlot): what each descriptor holds now, so unchanged words are not
  // rewritten. -1 = never written.
  readonly #descIova: Float64Array;
  readonly #descWord2: Float64Array; // len
  readonly #descWord3: Int32Array; // flags (next is 0)

  /** Checks the options (RangeError) and lays the rings out (§2.7, legacy §2.7.2). */
  constructor(options: VirtqueueOptions) {
    super(options);
    const size = this.size;
    this.#descIova = new Float64Array(size).fill(-1);
    this.#descWord2 = new Float64Array(size).fill(-1);
    this.#descWord3 = new Int32Array(size).fill(-1);
  }

  /**
   * The fixed-slot fast path: buffer `slot` is descriptor `slot` (and its token), one
   * descriptor each. A descriptor keeps what it was last given, so per buffer usually only
   * the avail entry is written (§2.7.13.2) — address, flags and length only when they differ
   * from that descriptor's last use. A queue used this way takes no addOne/addBuffer.
   * Throws RangeError if `slot` is out of range or already in flight.
   */
  addSlot(slot: number, iova: number, len: number, deviceWritable: boolean): void {
    this.checkSlot(slot, iova);
    const w = slot << 2;
    if (this.#descIova[slot] !== iova) {
      checkSegment(iova, 0);
      this.desc32[w] = iovaLow(iova);
      this.desc32[w + 1] = iovaHigh(iova);
      this.#descIova[slot] = iova;
    }
    if (this.#descWord2[slot] !== len) {
      checkSegment(0, len);
      this.desc32[w + 2] = len;
      this.#descWord2[slot] = len;
    }
    const flags = deviceWritable ? VIRTQ_DESC_F_WRITE : 0;
    if (this.#descWord3[slot] !== flags) {
      this.desc32[w + 3] = flags;
      this.#descWord3[slot] = flags;
    }
    this.buffers.start(slot, slot, deviceWritable ? len : 0, 1);
    this.publishEntry(slot);
  }

  useSlots(iovaBase: number, stride: number, deviceWritable: boolean): void {
    this.startBulk(iovaBase, stride);
    const len = deviceWritable ? stride : 0;
    const flags = deviceWritable ? VIRTQ_DESC_F_WRITE : 0;
    for (let s = 0; s < this.size; s++) {
      const iova = iovaBase + s * stride;
      this.writeDesc(this.desc32, s, iova, len, flags, 0);
      this.#descIova[s] = iova;
      this.#descWord2[s] = len;
      this.#descWord3[s] = flags;
    }
    this.buffers.useSlots(len); // what pollUsed checks; addSlots keeps it in step
    this.bulk = { base: iovaBase, stride, deviceWritable };
  }

  addSlots(slots: Uint32Array, from: number, count: number, lens: Uint32Array): void {
    const bulk = this.bulkLayout("addSlots");
    const cap = slots.length;
    if (this.inOrder) {
      // IN_ORDER keeps the order of every buffer (BufferStates.order): the one-by-one path.
      this.inOrderSlots.add(this, bulk, this.buffers.mark, slots, from, count, lens);
      return;
    }
    if (!(count > 0)) return;
    const size = this.size, mask = this.mask, stride = bulk.stride;
    const mark = this.buffers.mark, writable = this.buffers.writable;
    const desc32 = this.desc32, descLen = this.#descWord2, avail16 = this.avail16;
    const shadow = this.availShadow;
    const dw = bulk.deviceWritable;
    let a = this.availIdx;
    let nextSeq = this.buffers.nextSeq;
    let i = from;
    for (let k = 0; k < count; k++) {
      const s = slots[i]!;
      if (++i === cap) i = 0;
      const len = lens[s]!;
      if (!(s < size) || mark[s] !== 0 || len > stride) {
        const what = this.slotFault(s, len, stride);
        this.undoSlots(slots, from, k);
        throw new RangeError(what);
      }
      // A descriptor keeps its address and flags (useSlots); only a new length is written.
      if (descLen[s] !== len) {
        desc32[(s << 2) + 2] = len;
        descLen[s] = len;
        writable[s] = dw ? len : 0;
      }
      mark[s] = nextSeq++;
      // §2.7.13.2: the head goes into the next avail.ring entry (unless it holds it already);
      // kick() publishes the idx.
      const e = a & mask;
      if (shadow[e] !== s) {
        avail16[AVAIL_RING / 2 + e] = s;
        shadow[e] = s;
      }
      a = (a + 1) & 0xffff;
    }
    this.buffers.count += count;
    this.buffers.nextSeq = nextSeq;
    this.availIdx = a;
    this.stats.added += count;
  }

  pollSlots(slots: Uint32Array, at: number, max: number, usedLens?: Uint32Array): number {
    const bulk = this.bulkLayout("pollSlots");
    if (!(max > 0)) return 0;
    if (this.inOrder) return this.inOrderSlots.poll(this, slots, at, max, usedLens);
    // §2.7.14: read used.idx (acquire) before the entries it covers.
    const usedIdx = Atomics.load(this.used16, USED_IDX / 2);
    const pending = (usedIdx - this.lastUsed) & 0xffff;
    if (pending === 0) return 0;
    const visible = this.buffers.count - ((this.availIdx - this.published) & 0xffff);
    if (pending > visible) {
      this.fail(
        `used idx ${usedIdx} is ${pending} ahead of ${this.lastUsed}, ` +
          `but only ${visible} buffers are in flight`,
      );
    }
    const n = pending < max ? pending : max;
    const size = this.size, mask = this.mask, cap = slots.length;
    const mark = this.buffers.mark, descLen = this.#descWord2;
    const used32 = this.used32, publishedSeq = this.publishedSeq;
    const dw = bulk.deviceWritable;
    let last = this.lastUsed;
    let j = at;
    for (let k = 0; k < n; k++) {
      const e = 1 + ((last & mask) << 1);
      const id = used32[e]!;
      last = (last + 1) & 0xffff;
      // Everything in a used element is the device's word: check it before use. The length
      // (§2.7.8: bytes written into the device-writable part) only where it means something:
      // a device-writable buffer, or a caller that asks for it (as in packed.ts).
      const m = id < size ? mark[id]! : 0; // 0: out of range or not in flight
      if (dw || usedLens !== undefined) {
        const len = used32[e + 1]!;
        const room = dw ? descLen[id]! : 0;
        if (m === 0 || m >= publishedSeq || len > room) this.usedFault(id, len, m, room, "id");
        if (usedLens !== undefined) usedLens[id] = len;
      } else if (m === 0 || m >= publishedSeq) this.usedFault(id, 0, m, 0, "id");
      mark[id] = 0;
      slots[j] = id;
      if (++j === cap) j = 0;
    }
    this.buffers.count -= n;
    this.stats.completed += n;
    this.lastUsed = last;
    if (this.eventIdx && this.interrupts) {
      Atomics.store(this.avail16, this.usedEventIndex, last);
    }
    return n;
  }
}
