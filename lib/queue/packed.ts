/**
 * The bulk slot path of a packed virtqueue (VIRTIO 1.2 §2.8), over the ring and one-by-one
 * calls of {@link PackedRing} (packed_ring.ts, which documents the memory ordering).
 *
 * Slot s is buffer id s and its own token, one descriptor each: no id list is kept, and a
 * slot's address words are split once. pollSlots loads each descriptor's flags, on x86-64,
 * with a plain load (see LOADS_ORDERED): `Atomics.load` is a builtin call V8 does not inline,
 * once per used descriptor the ring's main cost; TSO keeps the later loads after it.
 *
 * @module
 */

import { VIRTQ_PACKED_F_AVAIL, VIRTQ_PACKED_F_USED, VIRTQ_PACKED_F_WRITE } from "./layout.ts";
import { availBits, LOADS_ORDERED, PackedRing } from "./packed_ring.ts";
import { checkSegment, iovaHigh, iovaLow } from "./shadow.ts";
import type { Virtqueue, VirtqueueOptions } from "./types.ts";

/** A packed virtqueue: {@link PackedRing} plus the fixed-slot and bulk slot calls. */
export class PackedQueue extends PackedRing implements Virtqueue {
  // Fixed-slot mode (addSlot): each slot's address and its two le32 words, split once.
  readonly #slotIova: Float64Array;
  readonly #slotLo: Uint32Array;
  readonly #slotHi: Uint32Array;
  // Bulk slot mode, 8-byte stores: the descriptor table as float64 pairs (addr, then
  // len|id|flags as raw bits); each slot's address as the raw bits of one float64 (an IOVA
  // < 2^53 is never a NaN pattern, so the bits move unchanged); and per slot and wrap counter
  // the second half of its descriptor for the length in #tailLen.
  readonly #desc64: Float64Array;
  readonly #slotAddr: Float64Array;
  readonly #slotAddrWords: Uint32Array;
  readonly #tail: Float64Array; // [2 * slot + wrap]
  readonly #tailLen: Float64Array; // -1: not made yet
  readonly #scratch64 = new Float64Array(1);
  readonly #scratch32 = new Uint32Array(this.#scratch64.buffer);

  /** Checks the options (RangeError) and lays the ring out (§2.8.10, §2.8.13). */
  constructor(options: VirtqueueOptions) {
    super(options);
    const size = this.size;
    this.#slotIova = new Float64Array(size).fill(-1);
    this.#slotLo = new Uint32Array(size);
    this.#slotHi = new Uint32Array(size);
    const d = this.desc32; // 8-byte aligned: QueueCore checks the region
    this.#desc64 = new Float64Array(d.buffer, d.byteOffset, 2 * size);
    this.#slotAddr = new Float64Array(size);
    this.#slotAddrWords = new Uint32Array(this.#slotAddr.buffer);
    this.#tail = new Float64Array(2 * size);
    this.#tailLen = new Float64Array(size).fill(-1);
  }

  /**
   * The fixed-slot fast path: buffer id = token = `slot`, one descriptor each, so no id list
   * is kept; the slot's address words are split once and reused. A queue used this way takes
   * no addOne/addBuffer. Throws RangeError if `slot` is out of range or already in flight.
   */
  addSlot(slot: number, iova: number, len: number, deviceWritable: boolean): void {
    this.checkSlot(slot, iova);
    if (this.#slotIova[slot] !== iova) {
      checkSegment(iova, 0);
      this.#slotLo[slot] = iovaLow(iova);
      this.#slotHi[slot] = iovaHigh(iova);
      this.#slotIova[slot] = iova;
    }
    if (len >>> 0 !== len) checkSegment(0, len); // throws
    // A slot not in flight means a ring slot is free: one descriptor per buffer.
    const pos = this.nextAvail;
    const w = pos << 2;
    this.desc32[w] = this.#slotLo[slot]!;
    this.desc32[w + 1] = this.#slotHi[slot]!;
    this.desc32[w + 2] = len;
    this.desc16[(pos << 3) + 6] = slot;
    const flags = (deviceWritable ? VIRTQ_PACKED_F_WRITE : 0) | availBits(this.availWrap);
    this.makeAvailable(pos, flags); // §2.8.21: flags last
    this.buffers.start(slot, slot, deviceWritable ? len : 0, 1);
    this.advance(1);
  }

  useSlots(iovaBase: number, stride: number, deviceWritable: boolean): void {
    this.startBulk(iovaBase, stride);
    for (let s = 0; s < this.size; s++) {
      const iova = iovaBase + s * stride;
      this.#slotIova[s] = iova;
      this.#slotLo[s] = iovaLow(iova);
      this.#slotHi[s] = iovaHigh(iova);
      this.#slotAddrWords[2 * s] = iovaLow(iova); // little-endian: low word first (§2.8.13)
      this.#slotAddrWords[2 * s + 1] = iovaHigh(iova);
    }
    this.buffers.useSlots(deviceWritable ? stride : 0);
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
    if (count <= 0) return;
    const size = this.size, stride = bulk.stride;
    const mark = this.buffers.mark, writable = this.buffers.writable;
    const desc32 = this.desc32, desc16 = this.desc16, desc64 = this.#desc64;
    const addr = this.#slotAddr, tail = this.#tail, tailLen = this.#tailLen;
    const dw = bulk.deviceWritable;
    const writeFlag = dw ? VIRTQ_PACKED_F_WRITE : 0;
    let pos = this.nextAvail, wrap = this.availWrap;
    let nextSeq = this.buffers.nextSeq;
    // The first buffer of an unpublished batch keeps its flags for kick() (#makeAvailable).
    let first = this.added === 0;
    let i = from;
    for (let k = 0; k < count; k++) {
      const s = slots[i]!;
      if (++i === cap) i = 0;
      const len = lens[s]!;
      // A slot not in flight means a free ring slot: one descriptor per buffer.
      if (!(s < size) || mark[s] !== 0 || len > stride) {
        const what = this.slotFault(s, len, stride);
        this.undoSlots(slots, from, k);
        this.#undoFlags(k, this.nextAvail, this.availWrap, this.added === 0);
        throw new RangeError(what);
      }
      // The address in one 8-byte store (its two le32 words, precomputed in useSlots).
      desc64[pos << 1] = addr[s]!;
      if (first) {
        desc32[(pos << 2) + 2] = len;
        desc16[(pos << 3) + 6] = s;
        this.batchHeadPos = pos;
        this.batchHeadFlags = writeFlag | availBits(wrap);
        first = false;
      } else {
        // len, id and flags in one 8-byte store, after the address. §2.8.21 wants a buffer's
        // flags written after its other fields only as the device can see them: this
        // descriptor lies behind the batch head, whose flags kick() stores last, and the
        // device reads the ring in order (§2.8.1), so it sees all of it or nothing.
        if (tailLen[s] !== len) this.#makeTails(s, len, writeFlag);
        desc64[(pos << 1) + 1] = tail[(s << 1) | wrap]!;
      }
      if (dw && writable[s] !== len) writable[s] = len;
      mark[s] = nextSeq++;
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
    }
    this.nextAvail = pos;
    this.availWrap = wrap;
    this.freeSlots -= count;
    this.added += count;
    this.buffers.count += count;
    this.buffers.nextSeq = nextSeq;
    this.stats.added += count;
  }

  /**
   * Slot `s`'s second descriptor half for length `len`, for both wrap counters: le32 len,
   * le16 id, le16 flags (§2.8.13), as the bits of one float64 (flags hold no NaN pattern:
   * that would need flag bits 4..14 all set).
   */
  #makeTails(s: number, len: number, writeFlag: number): void {
    const w32 = this.#scratch32, w64 = this.#scratch64;
    for (let wrap = 0; wrap < 2; wrap++) {
      w32[0] = len;
      w32[1] = s | ((writeFlag | availBits(wrap)) << 16);
      this.#tail[(s << 1) | wrap] = w64[0]!;
    }
    this.#tailLen[s] = len;
  }

  /** Takes back the ring slots of the first `k` slots of a failed addSlots (none published). */
  #undoFlags(k: number, pos: number, wrap: number, headInCall: boolean): void {
    for (let j = 0; j < k; j++) {
      // §2.8.1: the descriptors written so far carry this lap's AVAIL flags (all but a batch
      // head, whose flags wait for kick); give them back the look of a slot used in the last
      // lap (AVAIL = USED = !wrap), which the device does not take, before anything after
      // them is published.
      if (!(j === 0 && headInCall)) {
        this.desc16[(pos << 3) + 7] = wrap ? 0 : VIRTQ_PACKED_F_AVAIL | VIRTQ_PACKED_F_USED;
      }
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1;
      }
    }
  }

  pollSlots(slots: Uint32Array, at: number, max: number, usedLens?: Uint32Array): number {
    const bulk = this.bulkLayout("pollSlots");
    if (this.inOrder) return this.inOrderSlots.poll(this, slots, at, max, usedLens);
    const size = this.size, cap = slots.length;
    const mark = this.buffers.mark, writable = this.buffers.writable;
    const desc32 = this.desc32, publishedSeq = this.publishedSeq;
    const dw = bulk.deviceWritable;
    // Only published slots are looked at: an unpublished batch's first flags are stale.
    const published = size - this.freeSlots - this.added;
    const limit = published < max ? published : max;
    let pos = this.lastUsed, wrap = this.usedWrap;
    let n = 0, j = at;
    while (n < limit) {
      // §2.8.22: flags first (acquire; see the module doc for the plain load), then len. The
      // id comes in the same 4-byte load as the flags: the device wrote it before them, so a
      // load that sees the new flags sees the new id.
      const w3 = (pos << 2) + 3;
      const idFlags = LOADS_ORDERED ? desc32[w3]! : Atomics.load(desc32, w3);
      const f = idFlags >>> 16;
      const avail = (f >>> 7) & 1;
      if (avail !== wrap) {
        // §2.8.1: a slot we made available in this lap cannot lose its AVAIL bit.
        this.fail(
          `descriptor ${pos} flags 0x${f.toString(16)} contradict wrap counter ` +
            `${wrap} (AVAIL=${avail}, USED=${f >>> 15})`,
        );
      }
      if (f >>> 15 !== wrap) break; // still the device's
      const id = idFlags & 0xffff;
      const m = id < size ? mark[id]! : 0; // 0: out of range or not in flight
      // §2.8.4: a used descriptor's length is what the device wrote into the buffer. It is
      // read and checked where it means something — a device-writable buffer, or a caller
      // that asks for it; a transmit queue never uses it (under TCG the load and compare
      // were a visible share of a transmit reclaim). The id is checked always.
      if (dw || usedLens !== undefined) {
        const len = desc32[(pos << 2) + 2]!;
        const room = dw ? writable[id]! : 0;
        if (m === 0 || m >= publishedSeq || len > room) {
          this.usedFault(id, len, m, room, "buffer id");
        }
        if (usedLens !== undefined) usedLens[id] = len;
      } else if (m === 0 || m >= publishedSeq) this.usedFault(id, 0, m, 0, "buffer id");
      mark[id] = 0;
      slots[j] = id;
      if (++j === cap) j = 0;
      n++;
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
    }
    if (n === 0) return 0;
    this.lastUsed = pos;
    this.usedWrap = wrap;
    this.freeSlots += n;
    this.buffers.count -= n;
    this.stats.completed += n;
    if (this.eventIdx && this.interrupts) this.requestEventAtLastUsed();
    return n;
  }
}
