/**
 * Packed virtqueue, driver side (VIRTIO 1.2 §2.8).
 *
 * Memory ordering (§2.8.21 "Supplying Buffers to The Device", §2.8.22 "Receiving Used
 * Buffers", §2.8.10 "Driver and Device Event Suppression"):
 * - A buffer becomes available when its first descriptor's flags carry the driver's wrap
 *   counter. Everything of a batch — addr/len/id, later descriptors of chains, the flags of
 *   all but the batch's first buffer — is written with plain stores; kick() then stores the
 *   first buffer's flags with `Atomics.store` (seq-cst: the engine keeps the earlier stores
 *   before it, x86 TSO keeps store order) — the barrier §2.8.21 asks for. The device reads
 *   the ring in order, so it sees nothing of the batch before that store, then all of it.
 * - Before reading the device event suppression structure to decide on a kick, a full
 *   barrier (the seq-cst store, XCHG on x86-64) separates our flag stores from that load.
 * - A used descriptor is detected by loading its flags, and only then are its id and len
 *   read (§2.8.22: read barrier between flags and the other fields). pollUsed loads the flags
 *   with `Atomics.load`; the bulk pollSlots, on x86-64, with a plain load: TSO never reorders
 *   a load with a later load, and V8 keeps typed-array accesses in program order on its
 *   effect chain. `Atomics.load` is not inlined by V8 (a builtin call, 5.6 vs 0.6 ns on the
 *   host, far more under TCG), which once per used descriptor was the packed ring's main
 *   cost. Elsewhere `Atomics.load` is kept.
 * The driver keeps its own wrap counters, next offsets, buffer ids and slot counts; it never
 * reads back a descriptor it wrote. Everything read from a used descriptor is validated.
 *
 * @module
 */

import type { DmaRegion } from "../dma/memory.ts";
import type { DeviceError } from "../errors.ts";
import type { QueueAddresses } from "../virtio/transport.ts";
import {
  EVENT_FLAGS,
  EVENT_OFF_WRAP,
  EVENT_WRAP_BIT,
  needEvent,
  PACKED_DESC_SIZE,
  packedLayout,
  RING_EVENT_FLAGS_DESC,
  RING_EVENT_FLAGS_DISABLE,
  RING_EVENT_FLAGS_ENABLE,
  VIRTQ_PACKED_F_AVAIL,
  VIRTQ_PACKED_F_INDIRECT,
  VIRTQ_PACKED_F_NEXT,
  VIRTQ_PACKED_F_USED,
  VIRTQ_PACKED_F_WRITE,
} from "./layout.ts";
import {
  BufferStates,
  checkChain,
  checkSegment,
  checkSlotLayout,
  checkToken,
  deviceViolation,
  IdFifo,
  iovaHigh,
  iovaLow,
  type SlotLayout,
} from "./shadow.ts";
import type { QueueStats, Segment, Virtqueue, VirtqueueOptions } from "./virtqueue.ts";
import { InOrderSlots } from "./in_order_slots.ts";

/** The CPU keeps loads in order (x86-64 TSO): a plain load of the flags is an acquire. */
const LOADS_ORDERED = Deno.build.arch === "x86_64";

/** Flags that make a descriptor available in the lap with wrap counter `wrap` (§2.8.1). */
function availBits(wrap: number): number {
  return wrap ? VIRTQ_PACKED_F_AVAIL : VIRTQ_PACKED_F_USED;
}

export class PackedQueue implements Virtqueue {
  readonly format = "packed" as const;
  readonly size: number;
  readonly addresses: QueueAddresses;
  readonly region: DmaRegion;
  readonly stats: QueueStats = { added: 0, completed: 0, publishes: 0, notifications: 0 };

  readonly #eventIdx: boolean;
  readonly #inOrder: boolean;
  readonly #notify: (value: number) => void;
  readonly #desc32: Uint32Array; // addr lo, addr hi, len, id|flags<<16
  readonly #desc16: Uint16Array; // id at 8i+6, flags at 8i+7
  readonly #desc64: Float64Array; // 2 per descriptor: addr, then len|id|flags (as raw bits)
  readonly #driverEvent16: Uint16Array; // off_wrap, flags — written by us
  readonly #deviceEvent16: Uint16Array; // off_wrap, flags — written by the device
  readonly #indirect?: DmaRegion;
  readonly #indirect32?: Uint32Array;
  readonly #maxIndirect: number;
  // Shadow state.
  readonly #ids: IdFifo;
  readonly #buffers: BufferStates;
  #freeSlots: number;
  // Fixed-slot mode (addSlot): each slot's address and its two le32 words, split once.
  #slotMode = false;
  readonly #slotIova: Float64Array;
  readonly #slotLo: Uint32Array;
  readonly #slotHi: Uint32Array;
  // Bulk slot mode, 8-byte stores: each slot's address as the raw bits of one float64 (an
  // IOVA < 2^53 is never a NaN pattern, so the bits move unchanged), and per slot and wrap
  // counter the second half of its descriptor (len, id, flags) for the length in #tailLen.
  readonly #slotAddr: Float64Array;
  readonly #slotAddrWords: Uint32Array;
  readonly #tail: Float64Array; // [2 * slot + wrap]
  readonly #tailLen: Float64Array; // -1: not made yet
  readonly #scratch64 = new Float64Array(1);
  readonly #scratch32 = new Uint32Array(this.#scratch64.buffer);
  // Bulk slot mode (useSlots): slot s at base + s * stride, writable or not for good.
  #bulk: SlotLayout | undefined;
  #inOrderScratch: InOrderSlots | undefined;
  #nextAvail = 0;
  #availWrap = 1; // §2.8.1: both wrap counters start at 1
  #lastUsed = 0;
  #usedWrap = 1;
  #added = 0; // slots made available since the last kick
  #batchHeadPos = 0; // first slot of the unpublished batch; its flags wait for kick()
  #batchHeadFlags = 0;
  #publishedSeq = 1; // buffers with a lower sequence number are visible to the device
  #interrupts = true;
  #skipTarget = -1;
  #skipLen = 0;
  #error: DeviceError | undefined;

  constructor(options: VirtqueueOptions) {
    const size = options.size;
    this.size = size;
    this.#eventIdx = options.eventIdx ?? false;
    this.#inOrder = options.inOrder ?? false;
    this.#notify = options.notify;
    const layout = packedLayout(size);
    const region = options.dma.alloc(layout.total, layout.align);
    this.region = region;
    region.bytes.fill(0); // flags 0: no descriptor is available in lap 1 (AVAIL=1, USED=0)
    const { buffer, byteOffset } = region.bytes;
    if (byteOffset % 8 !== 0) throw new RangeError("DMA region bytes are not 8-byte aligned");
    this.#desc32 = new Uint32Array(buffer, byteOffset + layout.desc, 4 * size);
    this.#desc16 = new Uint16Array(buffer, byteOffset + layout.desc, 8 * size);
    this.#desc64 = new Float64Array(buffer, byteOffset + layout.desc, 2 * size);
    this.#driverEvent16 = new Uint16Array(buffer, byteOffset + layout.driver, 2);
    this.#deviceEvent16 = new Uint16Array(buffer, byteOffset + layout.device, 2);
    this.addresses = {
      desc: region.iova + layout.desc,
      driver: region.iova + layout.driver,
      device: region.iova + layout.device,
    };
    this.#maxIndirect = options.maxIndirect ?? 16;
    if (options.indirect) {
      const table = options.dma.alloc(size * this.#maxIndirect * PACKED_DESC_SIZE, 16);
      if (table.bytes.byteOffset % 8 !== 0) throw new RangeError("indirect region misaligned");
      this.#indirect = table;
      this.#indirect32 = new Uint32Array(
        table.bytes.buffer,
        table.bytes.byteOffset,
        size * this.#maxIndirect * 4,
      );
    }
    this.#ids = new IdFifo(size);
    this.#buffers = new BufferStates(size, this.#inOrder);
    this.#freeSlots = size;
    this.#slotIova = new Float64Array(size).fill(-1);
    this.#slotLo = new Uint32Array(size);
    this.#slotHi = new Uint32Array(size);
    this.#slotAddr = new Float64Array(size);
    this.#slotAddrWords = new Uint32Array(this.#slotAddr.buffer);
    this.#tail = new Float64Array(2 * size);
    this.#tailLen = new Float64Array(size).fill(-1);
  }

  get broken(): boolean {
    return this.#error !== undefined;
  }
  get freeDescriptors(): number {
    return this.#freeSlots;
  }
  get inFlight(): number {
    return this.#buffers.count;
  }

  /**
   * The fixed-slot fast path: buffer id = token = `slot`, one descriptor each, so no id list
   * is kept; the slot's address words are split once and reused. A queue used this way takes
   * no addOne/addBuffer. Throws RangeError if `slot` is out of range or already in flight.
   */
  addSlot(slot: number, iova: number, len: number, deviceWritable: boolean): void {
    if (this.#error) throw this.#error;
    if (!this.#slotMode) this.#enterSlotMode();
    if (!(slot >>> 0 === slot && slot < this.size) || this.#buffers.mark[slot] !== 0) {
      throw new RangeError(`slot ${slot} is out of range or already in flight`);
    }
    if (this.#bulk && iova !== this.#bulk.base + slot * this.#bulk.stride) {
      throw new RangeError(`slot ${slot}: address differs from the useSlots layout`);
    }
    if (this.#slotIova[slot] !== iova) {
      checkSegment(iova, 0);
      this.#slotLo[slot] = iovaLow(iova);
      this.#slotHi[slot] = iovaHigh(iova);
      this.#slotIova[slot] = iova;
    }
    if (len >>> 0 !== len) checkSegment(0, len); // throws
    // A slot not in flight means a ring slot is free: one descriptor per buffer.
    const pos = this.#nextAvail;
    const w = pos << 2;
    this.#desc32[w] = this.#slotLo[slot]!;
    this.#desc32[w + 1] = this.#slotHi[slot]!;
    this.#desc32[w + 2] = len;
    this.#desc16[(pos << 3) + 6] = slot;
    const flags = (deviceWritable ? VIRTQ_PACKED_F_WRITE : 0) | availBits(this.#availWrap);
    this.#makeAvailable(pos, flags); // §2.8.21: flags last
    this.#buffers.start(slot, slot, deviceWritable ? len : 0, 1);
    this.#advance(1);
  }

  useSlots(iovaBase: number, stride: number, deviceWritable: boolean): void {
    if (this.#error) throw this.#error;
    if (this.#slotMode || this.#bulk !== undefined) {
      throw new RangeError("useSlots was already called");
    }
    checkSlotLayout(iovaBase, stride, this.size);
    this.#enterSlotMode();
    for (let s = 0; s < this.size; s++) {
      const iova = iovaBase + s * stride;
      this.#slotIova[s] = iova;
      this.#slotLo[s] = iovaLow(iova);
      this.#slotHi[s] = iovaHigh(iova);
      this.#slotAddrWords[2 * s] = iovaLow(iova); // little-endian: low word first (§2.8.13)
      this.#slotAddrWords[2 * s + 1] = iovaHigh(iova);
    }
    this.#buffers.useSlots(deviceWritable ? stride : 0);
    this.#bulk = { base: iovaBase, stride, deviceWritable };
  }

  addSlots(slots: Uint32Array, from: number, count: number, lens: Uint32Array): void {
    if (this.#error) throw this.#error;
    const bulk = this.#bulk;
    if (bulk === undefined) throw new RangeError("addSlots needs useSlots first");
    const cap = slots.length;
    if (this.#inOrder) {
      // IN_ORDER keeps the order of every buffer (BufferStates.order): the one-by-one path.
      this.#inOrderSlots.add(this, bulk, this.#buffers.mark, slots, from, count, lens);
      return;
    }
    if (count <= 0) return;
    const size = this.size, stride = bulk.stride;
    const mark = this.#buffers.mark, writable = this.#buffers.writable;
    const desc32 = this.#desc32, desc16 = this.#desc16, desc64 = this.#desc64;
    const addr = this.#slotAddr, tail = this.#tail, tailLen = this.#tailLen;
    const dw = bulk.deviceWritable;
    const writeFlag = dw ? VIRTQ_PACKED_F_WRITE : 0;
    let pos = this.#nextAvail, wrap = this.#availWrap;
    let nextSeq = this.#buffers.nextSeq;
    // The first buffer of an unpublished batch keeps its flags for kick() (#makeAvailable).
    let first = this.#added === 0;
    let i = from;
    for (let k = 0; k < count; k++) {
      const s = slots[i]!;
      if (++i === cap) i = 0;
      const len = lens[s]!;
      // A slot not in flight means a free ring slot: one descriptor per buffer.
      if (!(s < size) || mark[s] !== 0 || len > stride) {
        const what = s < size && mark[s] === 0
          ? `slot ${s}: length ${len} exceeds the ${stride}-byte slot`
          : `slot ${s} is out of range or already in flight`;
        this.#undoSlots(slots, from, k, this.#nextAvail, this.#availWrap, this.#added === 0);
        throw new RangeError(what);
      }
      // The address in one 8-byte store (its two le32 words, precomputed in useSlots).
      desc64[pos << 1] = addr[s]!;
      if (first) {
        desc32[(pos << 2) + 2] = len;
        desc16[(pos << 3) + 6] = s;
        this.#batchHeadPos = pos;
        this.#batchHeadFlags = writeFlag | availBits(wrap);
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
    this.#nextAvail = pos;
    this.#availWrap = wrap;
    this.#freeSlots -= count;
    this.#added += count;
    this.#buffers.count += count;
    this.#buffers.nextSeq = nextSeq;
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

  /** Un-marks the first `k` slots of a failed addSlots (none of them was published). */
  #undoSlots(
    slots: Uint32Array,
    from: number,
    k: number,
    pos: number,
    wrap: number,
    headInCall: boolean,
  ): void {
    for (let j = 0, i = from; j < k; j++, i = i + 1 === slots.length ? 0 : i + 1) {
      this.#buffers.mark[slots[i]!] = 0;
      // §2.8.1: the descriptors written so far carry this lap's AVAIL flags (all but a batch
      // head, whose flags wait for kick); give them back the look of a slot used in the last
      // lap (AVAIL = USED = !wrap), which the device does not take, before anything after
      // them is published.
      if (!(j === 0 && headInCall)) {
        this.#desc16[(pos << 3) + 7] = wrap ? 0 : VIRTQ_PACKED_F_AVAIL | VIRTQ_PACKED_F_USED;
      }
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1;
      }
    }
  }

  pollSlots(slots: Uint32Array, at: number, max: number, usedLens?: Uint32Array): number {
    if (this.#error) throw this.#error;
    const bulk = this.#bulk;
    if (bulk === undefined) throw new RangeError("pollSlots needs useSlots first");
    if (this.#inOrder) return this.#inOrderSlots.poll(this, slots, at, max, usedLens);
    const size = this.size, cap = slots.length;
    const mark = this.#buffers.mark, writable = this.#buffers.writable;
    const desc32 = this.#desc32, publishedSeq = this.#publishedSeq;
    const dw = bulk.deviceWritable;
    // Only published slots are looked at: an unpublished batch's first flags are stale.
    const published = size - this.#freeSlots - this.#added;
    const limit = published < max ? published : max;
    let pos = this.#lastUsed, wrap = this.#usedWrap;
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
        this.#fail(
          `descriptor ${pos} flags 0x${f.toString(16)} contradict wrap counter ` +
            `${wrap} (AVAIL=${avail}, USED=${f >>> 15})`,
        );
      }
      if (f >>> 15 !== wrap) break; // still the device's
      const id = idFlags & 0xffff;
      const len = desc32[(pos << 2) + 2]!;
      const m = id < size ? mark[id]! : 0; // 0: out of range or not in flight
      if (m === 0) {
        this.#fail(`used buffer id ${id} is ${id >= size ? "out of range" : "not in flight"}`);
      }
      if (m >= publishedSeq) this.#fail(`used buffer id ${id} was not made available yet`);
      if (len > (dw ? writable[id]! : 0)) {
        this.#fail(
          `used len ${len} for id ${id} exceeds its ${dw ? writable[id] : 0} writable bytes`,
        );
      }
      mark[id] = 0;
      slots[j] = id;
      if (++j === cap) j = 0;
      if (usedLens !== undefined) usedLens[id] = len;
      n++;
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
    }
    if (n === 0) return 0;
    this.#lastUsed = pos;
    this.#usedWrap = wrap;
    this.#freeSlots += n;
    this.#buffers.count -= n;
    this.stats.completed += n;
    if (this.#eventIdx && this.#interrupts) this.#requestEventAtLastUsed();
    return n;
  }

  /** The IN_ORDER bulk path's scratch, made on first use. */
  get #inOrderSlots(): InOrderSlots {
    return this.#inOrderScratch ??= new InOrderSlots(this.size);
  }

  #enterSlotMode(): void {
    if (this.#buffers.count !== 0 || this.#ids.count !== this.size) {
      throw new RangeError("addSlot on a queue that already has buffers from addOne/addBuffer");
    }
    this.#slotMode = true;
  }

  addOne(iova: number, len: number, deviceWritable: boolean, token: number): boolean {
    if (this.#error) throw this.#error;
    if (this.#slotMode) throw new RangeError("this queue is fed with addSlot");
    if (this.#freeSlots === 0) return false;
    checkSegment(iova, len);
    checkToken(token);
    const id = this.#ids.pop();
    const pos = this.#nextAvail;
    const w = pos << 2;
    this.#desc32[w] = iovaLow(iova);
    this.#desc32[w + 1] = iovaHigh(iova);
    this.#desc32[w + 2] = len;
    this.#desc16[(pos << 3) + 6] = id;
    const flags = (deviceWritable ? VIRTQ_PACKED_F_WRITE : 0) | availBits(this.#availWrap);
    this.#makeAvailable(pos, flags); // §2.8.21: flags last
    this.#buffers.start(id, token, deviceWritable ? len : 0, 1);
    this.#advance(1);
    return true;
  }

  addBuffer(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    useIndirect = false,
  ): boolean {
    if (this.#error) throw this.#error;
    if (this.#slotMode) throw new RangeError("this queue is fed with addSlot");
    checkToken(token);
    if (useIndirect) return this.#addIndirect(out, inn, token);
    const writable = checkChain(out, inn, this.size);
    const n = out.length + inn.length;
    if (this.#freeSlots < n) return false;
    const id = this.#ids.pop();
    const headPos = this.#nextAvail;
    const headWrap = this.#availWrap;
    let headFlags = 0;
    let pos = headPos;
    let wrap = headWrap;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const flags = (i >= out.length ? VIRTQ_PACKED_F_WRITE : 0) |
        (i === n - 1 ? 0 : VIRTQ_PACKED_F_NEXT) | availBits(wrap);
      const w = pos << 2;
      this.#desc32[w] = iovaLow(seg.iova);
      this.#desc32[w + 1] = iovaHigh(seg.iova);
      this.#desc32[w + 2] = seg.len;
      this.#desc16[(pos << 3) + 6] = id; // §2.8.6: the id is in every descriptor we write
      if (i === 0) headFlags = flags;
      else this.#desc16[(pos << 3) + 7] = flags;
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1; // a chain may cross the end of the ring: later slots are in the next lap
      }
    }
    // §2.8.21: the whole chain is in memory before its head flags make it available.
    this.#makeAvailable(headPos, headFlags);
    this.#buffers.start(id, token, writable, n);
    this.#advance(n);
    return true;
  }

  #addIndirect(out: readonly Segment[], inn: readonly Segment[], token: number): boolean {
    const table = this.#indirect;
    const table32 = this.#indirect32;
    if (!table || !table32) throw new RangeError("indirect descriptors were not negotiated");
    const writable = checkChain(out, inn, this.#maxIndirect);
    if (this.#freeSlots === 0) return false;
    const n = out.length + inn.length;
    const id = this.#ids.pop();
    const base = id * this.#maxIndirect;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const w = (base + i) << 2;
      table32[w] = iovaLow(seg.iova);
      table32[w + 1] = iovaHigh(seg.iova);
      table32[w + 2] = seg.len;
      // §2.8.7: table entries are sequential; only WRITE is meaningful, id is unused.
      table32[w + 3] = (i >= out.length ? VIRTQ_PACKED_F_WRITE : 0) << 16;
    }
    const pos = this.#nextAvail;
    const w = pos << 2;
    const tableIova = table.iova + base * PACKED_DESC_SIZE;
    this.#desc32[w] = iovaLow(tableIova);
    this.#desc32[w + 1] = iovaHigh(tableIova);
    this.#desc32[w + 2] = n * PACKED_DESC_SIZE;
    this.#desc16[(pos << 3) + 6] = id;
    this.#makeAvailable(pos, VIRTQ_PACKED_F_INDIRECT | availBits(this.#availWrap));
    this.#buffers.start(id, token, writable, 1);
    this.#advance(1);
    return true;
  }

  /**
   * Sets a buffer's head flags — except for the first buffer of a batch, whose flags kick()
   * stores last: the device reads the ring in order and stops at that slot, so the whole
   * batch appears at once, with one seq-cst store per batch (like split's avail.idx).
   */
  #makeAvailable(pos: number, flags: number): void {
    if (this.#added === 0) {
      this.#batchHeadPos = pos;
      this.#batchHeadFlags = flags;
    } else {
      this.#desc16[(pos << 3) + 7] = flags;
    }
  }

  #advance(slots: number): void {
    this.#freeSlots -= slots;
    this.#added += slots;
    this.#nextAvail += slots;
    if (this.#nextAvail >= this.size) {
      this.#nextAvail -= this.size;
      this.#availWrap ^= 1;
    }
    this.stats.added++;
  }

  kick(): boolean {
    if (this.#error) throw this.#error;
    if (this.#added === 0) return false;
    const added = this.#added;
    this.#added = 0;
    // §2.8.21: every descriptor of the batch (plain stores) before the first one's flags.
    Atomics.store(this.#desc16, (this.#batchHeadPos << 3) + 7, this.#batchHeadFlags);
    this.#publishedSeq = this.#buffers.nextSeq;
    this.stats.publishes++;
    // §2.8.10 / §2.8.21: the flag stores were seq-cst; now read the device's wishes.
    const flags = Atomics.load(this.#deviceEvent16, EVENT_FLAGS / 2) & 3;
    let need: boolean;
    if (flags === RING_EVENT_FLAGS_DESC && this.#eventIdx) {
      const offWrap = Atomics.load(this.#deviceEvent16, EVENT_OFF_WRAP / 2);
      let event = offWrap & 0x7fff;
      if (offWrap >>> EVENT_WRAP_BIT !== this.#availWrap) event -= this.size;
      // Offsets relative to the current lap: the batch covered (new - added, new].
      need = needEvent(event, this.#nextAvail, this.#nextAvail - added);
    } else {
      need = flags !== RING_EVENT_FLAGS_DISABLE;
    }
    if (need) {
      this.stats.notifications++;
      // NOTIFICATION_DATA for packed rings: next offset and wrap counter.
      this.#notify(this.#nextAvail | (this.#availWrap << EVENT_WRAP_BIT));
    }
    return need;
  }

  hasUsed(): boolean {
    if (this.#error) throw this.#error;
    if (this.#skipTarget >= 0) return true;
    if (this.#freeSlots + this.#added === this.size) return false; // nothing published
    const f = Atomics.load(this.#desc16, (this.#lastUsed << 3) + 7);
    return this.#isUsed(f);
  }

  /**
   * Classifies the flags at `lastUsed`, which the driver made available in lap `usedWrap`
   * (§2.8.1): AVAIL = wrap and USED ≠ wrap — still the device's; both = wrap — used.
   * Any other combination cannot come from a correct device.
   */
  #isUsed(flags: number): boolean {
    const avail = (flags >>> 7) & 1;
    const used = flags >>> 15;
    if (avail === this.#usedWrap) {
      if (used === this.#usedWrap) return true;
      return false;
    }
    this.#fail(
      `descriptor ${this.#lastUsed} flags 0x${flags.toString(16)} contradict wrap counter ` +
        `${this.#usedWrap} (AVAIL=${avail}, USED=${used})`,
    );
  }

  pollUsed(outTokens: Uint32Array, outLens: Uint32Array): number {
    if (this.#error) throw this.#error;
    const cap = Math.min(outTokens.length, outLens.length);
    let n = 0;
    if (this.#skipTarget >= 0) n = this.#drainSkip(outTokens, outLens, 0, cap);
    const buffers = this.#buffers;
    let consumed = false;
    // Each round retires ≥ 1 slot, so the loop ends after at most `size` rounds. Only
    // published slots are looked at: an unpublished batch's first flags are still stale.
    while (n < cap && this.#skipTarget < 0 && this.#freeSlots + this.#added < this.size) {
      const pos = this.#lastUsed;
      // §2.8.22: flags first (acquire), then id and len.
      if (!this.#isUsed(Atomics.load(this.#desc16, (pos << 3) + 7))) break;
      const id = this.#desc16[(pos << 3) + 6]!;
      const len = this.#desc32[(pos << 2) + 2]!;
      if (id >= this.size || buffers.mark[id] === 0) {
        this.#fail(`used buffer id ${id} is ${id >= this.size ? "out of range" : "not in flight"}`);
      }
      if (buffers.mark[id]! >= this.#publishedSeq) {
        this.#fail(`used buffer id ${id} was not made available yet`);
      }
      if (len > buffers.writable[id]!) {
        this.#fail(
          `used len ${len} for id ${id} exceeds its ${buffers.writable[id]} writable bytes`,
        );
      }
      consumed = true;
      if (this.#inOrder && buffers.oldest() !== id) {
        // §2.8.8 (IN_ORDER): one used descriptor for the last buffer completes the batch.
        this.#skipTarget = id;
        this.#skipLen = len;
        n = this.#drainSkip(outTokens, outLens, n, cap);
        continue;
      }
      outTokens[n] = buffers.token[id]!;
      outLens[n] = len;
      n++;
      this.#release(id);
    }
    if (consumed && this.#eventIdx && this.#interrupts) this.#requestEventAtLastUsed();
    return n;
  }

  #drainSkip(outTokens: Uint32Array, outLens: Uint32Array, n: number, cap: number): number {
    while (n < cap && this.#skipTarget >= 0) {
      const id = this.#buffers.oldest();
      outTokens[n] = this.#buffers.token[id]!;
      outLens[n] = id === this.#skipTarget ? this.#skipLen : 0;
      n++;
      if (id === this.#skipTarget) this.#skipTarget = -1;
      this.#release(id);
    }
    return n;
  }

  /** §2.8.22: skip the slots the buffer occupied; flip the used wrap counter at the end. */
  #release(id: number): void {
    const slots = this.#buffers.descCount[id]!;
    this.#buffers.finish(id);
    if (!this.#slotMode) this.#ids.push(id);
    this.#freeSlots += slots;
    this.#lastUsed += slots;
    if (this.#lastUsed >= this.size) {
      this.#lastUsed -= this.size;
      this.#usedWrap ^= 1;
    }
    this.stats.completed++;
  }

  #requestEventAtLastUsed(): void {
    Atomics.store(
      this.#driverEvent16,
      EVENT_OFF_WRAP / 2,
      this.#lastUsed | (this.#usedWrap << EVENT_WRAP_BIT),
    );
  }

  disableInterrupts(): void {
    if (this.#error) throw this.#error;
    this.#interrupts = false;
    Atomics.store(this.#driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_DISABLE);
  }

  enableInterrupts(): boolean {
    if (this.#error) throw this.#error;
    this.#interrupts = true;
    if (this.#eventIdx) {
      this.#requestEventAtLastUsed();
      Atomics.store(this.#driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_DESC);
    } else {
      Atomics.store(this.#driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_ENABLE);
    }
    return this.hasUsed();
  }

  #fail(what: string): never {
    this.#error = deviceViolation(what, this.format, this.size);
    throw this.#error;
  }
}
