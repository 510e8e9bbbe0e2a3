/**
 * Split virtqueue, driver side (VIRTIO 1.2 §2.7).
 *
 * Memory ordering (§2.7.13 "Supplying Buffers to The Device", §2.7.14 "Receiving Used
 * Buffers From The Device", §2.7.7 "Used Buffer Notification Suppression", §2.7.10
 * "Available Buffer Notification Suppression"):
 * - Descriptors and available-ring entries are written with plain typed-array stores, then
 *   `avail.idx` is published with `Atomics.store`. Atomics are sequentially consistent: the
 *   engine does not move earlier plain stores past them, and x86 (TSO) keeps stores in order,
 *   which is the write barrier §2.7.13.3 asks for before the idx update.
 * - Before reading `used.flags` / `avail_event` to decide on a kick, a full barrier must
 *   separate the idx store from that load (§2.7.13.4: otherwise a store-load reordering can
 *   lose a notification). A seq-cst `Atomics.store` followed by `Atomics.load` gives that;
 *   V8 emits the store as XCHG on x86-64, which is a full fence.
 * - `used.idx` is read with `Atomics.load` before the used elements (§2.7.14: read barrier);
 *   x86 does not reorder loads with loads and the engine does not hoist plain loads above an
 *   Atomics.load.
 * - `used_event` / `avail.flags` writes are Atomics stores followed by an Atomics load of
 *   `used.idx` when re-enabling interrupts, closing the race of §2.7.7.
 * The driver never reads back descriptors or avail entries it wrote: the chain links, lengths
 * and tokens it needs are kept in {@link BufferStates} and `nextShadow`.
 *
 * @module
 */

import type { DmaRegion } from "../dma/memory.ts";
import type { QueueAddresses } from "../virtio/transport.ts";
import {
  AVAIL_FLAGS,
  AVAIL_IDX,
  AVAIL_RING,
  availEventOffset,
  needEvent,
  SPLIT_DESC_SIZE,
  splitLayout,
  USED_IDX,
  usedEventOffset,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_USED_F_NO_NOTIFY,
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
import type { DeviceError } from "../errors.ts";

export class SplitQueue implements Virtqueue {
  readonly format = "split" as const;
  readonly size: number;
  readonly addresses: QueueAddresses;
  readonly region: DmaRegion;
  readonly stats: QueueStats = { added: 0, completed: 0, publishes: 0, notifications: 0 };

  readonly #mask: number;
  readonly #eventIdx: boolean;
  readonly #inOrder: boolean;
  readonly #notify: (value: number) => void;
  // Views made once on the ring memory.
  readonly #desc32: Uint32Array; // 4 words per descriptor: addr lo, addr hi, len, flags|next<<16
  readonly #avail16: Uint16Array; // flags, idx, ring[size], used_event
  readonly #used16: Uint16Array; // flags, idx, ... avail_event
  readonly #used32: Uint32Array; // word 0 = flags|idx, then id, len pairs
  readonly #usedEventIndex: number;
  readonly #availEventIndex: number;
  // Indirect tables: one per descriptor id, maxIndirect entries each.
  readonly #indirect?: DmaRegion;
  readonly #indirect32?: Uint32Array;
  readonly #maxIndirect: number;
  // Shadow state.
  readonly #free: IdFifo;
  readonly #buffers: BufferStates;
  readonly #nextShadow: Uint16Array; // chain links as the driver wrote them
  // Fixed-slot mode (addSlot): what each descriptor holds now, so unchanged words are not
  // rewritten. -1 = never written.
  #slotMode = false;
  readonly #descIova: Float64Array;
  readonly #descWord2: Float64Array; // len
  readonly #descWord3: Int32Array; // flags (next is 0)
  // What each avail.ring entry holds as we last wrote it (0xffff: not written yet). With
  // fixed slots and a device that completes in order, entry i gets the same slot every lap;
  // not rewriting it leaves that cache line clean in the device's cache (only avail.idx's
  // line changes per batch). We never read the ring back: the driver area is ours (§2.7.6).
  readonly #availShadow: Uint16Array;
  // Bulk slot mode (useSlots): slot s at base + s * stride, writable or not for good.
  #bulk: SlotLayout | undefined;
  #availIdx = 0; // next avail.idx value (free-running u16)
  #published = 0; // avail.idx last stored to memory
  #publishedSeq = 1; // buffers with a lower sequence number are visible to the device
  #lastUsed = 0; // used.idx value up to which entries were consumed
  #interrupts = true;
  #skipTarget = -1; // IN_ORDER: batch completion still being handed out
  #skipLen = 0;
  #error: DeviceError | undefined;
  #inOrderScratch: InOrderSlots | undefined;

  constructor(options: VirtqueueOptions) {
    const size = options.size;
    this.size = size;
    this.#mask = size - 1;
    this.#eventIdx = options.eventIdx ?? false;
    this.#inOrder = options.inOrder ?? false;
    this.#notify = options.notify;
    const layout = splitLayout(size, options.legacyLayout ?? false);
    const region = options.dma.alloc(layout.total, layout.align);
    this.region = region;
    region.bytes.fill(0);
    const { buffer, byteOffset } = region.bytes;
    if (byteOffset % 8 !== 0) throw new RangeError("DMA region bytes are not 8-byte aligned");
    this.#desc32 = new Uint32Array(buffer, byteOffset + layout.desc, 4 * size);
    this.#avail16 = new Uint16Array(buffer, byteOffset + layout.avail, 3 + size);
    this.#used16 = new Uint16Array(buffer, byteOffset + layout.used, 3 + 4 * size);
    this.#used32 = new Uint32Array(buffer, byteOffset + layout.used, 1 + 2 * size);
    this.#usedEventIndex = usedEventOffset(size) / 2;
    this.#availEventIndex = availEventOffset(size) / 2;
    this.addresses = {
      desc: region.iova + layout.desc,
      driver: region.iova + layout.avail,
      device: region.iova + layout.used,
    };
    this.#maxIndirect = options.maxIndirect ?? 16;
    if (options.indirect) {
      const table = options.dma.alloc(size * this.#maxIndirect * SPLIT_DESC_SIZE, 16);
      if (table.bytes.byteOffset % 8 !== 0) throw new RangeError("indirect region misaligned");
      this.#indirect = table;
      this.#indirect32 = new Uint32Array(
        table.bytes.buffer,
        table.bytes.byteOffset,
        size * this.#maxIndirect * 4,
      );
    }
    this.#free = new IdFifo(size);
    this.#buffers = new BufferStates(size, this.#inOrder);
    this.#nextShadow = new Uint16Array(size);
    this.#descIova = new Float64Array(size).fill(-1);
    this.#descWord2 = new Float64Array(size).fill(-1);
    this.#descWord3 = new Int32Array(size).fill(-1);
    this.#availShadow = new Uint16Array(size).fill(0xffff);
  }

  get broken(): boolean {
    return this.#error !== undefined;
  }
  get freeDescriptors(): number {
    return this.#slotMode ? this.size - this.#buffers.count : this.#free.count;
  }
  get inFlight(): number {
    return this.#buffers.count;
  }

  /**
   * The fixed-slot fast path: buffer `slot` is descriptor `slot` (and its token), one
   * descriptor each. A descriptor keeps what it was last given, so per buffer usually only
   * the avail entry is written (§2.7.13.2) — address, flags and length only when they differ
   * from that descriptor's last use. A queue used this way takes no addOne/addBuffer.
   * Throws RangeError if `slot` is out of range or already in flight.
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
    const w = slot << 2;
    if (this.#descIova[slot] !== iova) {
      checkSegment(iova, 0);
      this.#desc32[w] = iovaLow(iova);
      this.#desc32[w + 1] = iovaHigh(iova);
      this.#descIova[slot] = iova;
    }
    if (this.#descWord2[slot] !== len) {
      checkSegment(0, len);
      this.#desc32[w + 2] = len;
      this.#descWord2[slot] = len;
    }
    const flags = deviceWritable ? VIRTQ_DESC_F_WRITE : 0;
    if (this.#descWord3[slot] !== flags) {
      this.#desc32[w + 3] = flags;
      this.#descWord3[slot] = flags;
    }
    this.#buffers.start(slot, slot, deviceWritable ? len : 0, 1);
    this.#publishEntry(slot);
  }

  useSlots(iovaBase: number, stride: number, deviceWritable: boolean): void {
    if (this.#error) throw this.#error;
    if (this.#slotMode || this.#bulk !== undefined) {
      throw new RangeError("useSlots was already called");
    }
    checkSlotLayout(iovaBase, stride, this.size);
    this.#enterSlotMode();
    const len = deviceWritable ? stride : 0;
    const flags = deviceWritable ? VIRTQ_DESC_F_WRITE : 0;
    for (let s = 0; s < this.size; s++) {
      const iova = iovaBase + s * stride;
      this.#writeDesc(this.#desc32, s, iova, len, flags, 0);
      this.#descIova[s] = iova;
      this.#descWord2[s] = len;
      this.#descWord3[s] = flags;
    }
    this.#buffers.useSlots(len); // what pollUsed checks; addSlots keeps it in step
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
    if (!(count > 0)) return;
    const size = this.size, mask = this.#mask, stride = bulk.stride;
    const mark = this.#buffers.mark, writable = this.#buffers.writable;
    const desc32 = this.#desc32, descLen = this.#descWord2, avail16 = this.#avail16;
    const shadow = this.#availShadow;
    const dw = bulk.deviceWritable;
    let a = this.#availIdx;
    let nextSeq = this.#buffers.nextSeq;
    let i = from;
    for (let k = 0; k < count; k++) {
      const s = slots[i]!;
      if (++i === cap) i = 0;
      const len = lens[s]!;
      if (!(s < size) || mark[s] !== 0 || len > stride) {
        const what = s < size && mark[s] === 0
          ? `slot ${s}: length ${len} exceeds the ${stride}-byte slot`
          : `slot ${s} is out of range or already in flight`;
        this.#undoSlots(slots, from, k);
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
    this.#buffers.count += count;
    this.#buffers.nextSeq = nextSeq;
    this.#availIdx = a;
    this.stats.added += count;
  }

  /** Un-marks the first `k` slots of a failed addSlots (their ring entries stay unpublished). */
  #undoSlots(slots: Uint32Array, from: number, k: number): void {
    for (let j = 0, i = from; j < k; j++, i = i + 1 === slots.length ? 0 : i + 1) {
      this.#buffers.mark[slots[i]!] = 0;
    }
  }

  pollSlots(slots: Uint32Array, at: number, max: number, usedLens?: Uint32Array): number {
    if (this.#error) throw this.#error;
    const bulk = this.#bulk;
    if (bulk === undefined) throw new RangeError("pollSlots needs useSlots first");
    if (!(max > 0)) return 0;
    if (this.#inOrder) return this.#inOrderSlots.poll(this, slots, at, max, usedLens);
    // §2.7.14: read used.idx (acquire) before the entries it covers.
    const usedIdx = Atomics.load(this.#used16, USED_IDX / 2);
    const pending = (usedIdx - this.#lastUsed) & 0xffff;
    if (pending === 0) return 0;
    const visible = this.#buffers.count - ((this.#availIdx - this.#published) & 0xffff);
    if (pending > visible) {
      this.#fail(
        `used idx ${usedIdx} is ${pending} ahead of ${this.#lastUsed}, ` +
          `but only ${visible} buffers are in flight`,
      );
    }
    const n = pending < max ? pending : max;
    const size = this.size, mask = this.#mask, cap = slots.length;
    const mark = this.#buffers.mark, descLen = this.#descWord2;
    const used32 = this.#used32, publishedSeq = this.#publishedSeq;
    const dw = bulk.deviceWritable;
    let last = this.#lastUsed;
    let j = at;
    for (let k = 0; k < n; k++) {
      const e = 1 + ((last & mask) << 1);
      const id = used32[e]!;
      const len = used32[e + 1]!;
      last = (last + 1) & 0xffff;
      // Everything in a used element is the device's word: check it before use.
      const m = id < size ? mark[id]! : 0; // 0: out of range or not in flight
      if (m === 0) {
        this.#fail(`used id ${id} is ${id >= size ? "out of range" : "not in flight"}`);
      }
      if (m >= publishedSeq) this.#fail(`used id ${id} was not made available yet`);
      if (len > (dw ? descLen[id]! : 0)) {
        this.#fail(
          `used len ${len} for id ${id} exceeds its ${dw ? descLen[id] : 0} writable bytes`,
        );
      }
      mark[id] = 0;
      slots[j] = id;
      if (++j === cap) j = 0;
      if (usedLens !== undefined) usedLens[id] = len;
    }
    this.#buffers.count -= n;
    this.stats.completed += n;
    this.#lastUsed = last;
    if (this.#eventIdx && this.#interrupts) {
      Atomics.store(this.#avail16, this.#usedEventIndex, last);
    }
    return n;
  }

  /** The IN_ORDER bulk path's scratch, made on first use. */
  get #inOrderSlots(): InOrderSlots {
    return this.#inOrderScratch ??= new InOrderSlots(this.size);
  }

  #enterSlotMode(): void {
    if (this.#buffers.count !== 0 || this.#free.count !== this.size) {
      throw new RangeError("addSlot on a queue that already has buffers from addOne/addBuffer");
    }
    this.#slotMode = true;
  }

  addOne(iova: number, len: number, deviceWritable: boolean, token: number): boolean {
    if (this.#error) throw this.#error;
    if (this.#slotMode) throw new RangeError("this queue is fed with addSlot");
    if (this.#free.count === 0) return false;
    checkSegment(iova, len);
    checkToken(token);
    const id = this.#free.pop();
    this.#writeDesc(this.#desc32, id, iova, len, deviceWritable ? VIRTQ_DESC_F_WRITE : 0, 0);
    this.#buffers.start(id, token, deviceWritable ? len : 0, 1);
    this.#publishEntry(id);
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
    if (this.#free.count < n) return false;
    // §2.7.5.2 / §2.7.13.1: head first, each descriptor's next names the following one.
    const head = this.#free.pop();
    let id = head;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const last = i === n - 1;
      const next = last ? 0 : this.#free.pop();
      const flags = (i >= out.length ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      this.#writeDesc(this.#desc32, id, seg.iova, seg.len, flags, next);
      this.#nextShadow[id] = next;
      id = next;
    }
    this.#buffers.start(head, token, writable, n);
    this.#publishEntry(head);
    return true;
  }

  #addIndirect(out: readonly Segment[], inn: readonly Segment[], token: number): boolean {
    const table = this.#indirect;
    const table32 = this.#indirect32;
    if (!table || !table32) throw new RangeError("indirect descriptors were not negotiated");
    const writable = checkChain(out, inn, this.#maxIndirect);
    if (this.#free.count === 0) return false;
    const n = out.length + inn.length;
    const id = this.#free.pop();
    const base = id * this.#maxIndirect; // this id's own table: no sharing, no allocation
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const last = i === n - 1;
      const flags = (i >= out.length ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      // §2.7.5.3.1: entries of an indirect table chain by index within the table.
      this.#writeDesc(table32, base + i, seg.iova, seg.len, flags, last ? 0 : i + 1);
    }
    const tableIova = table.iova + base * SPLIT_DESC_SIZE;
    this.#writeDesc(this.#desc32, id, tableIova, n * SPLIT_DESC_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
    this.#buffers.start(id, token, writable, 1);
    this.#publishEntry(id);
    return true;
  }

  #writeDesc(
    view: Uint32Array,
    index: number,
    iova: number,
    len: number,
    flags: number,
    next: number,
  ): void {
    const w = index << 2;
    view[w] = iovaLow(iova);
    view[w + 1] = iovaHigh(iova);
    view[w + 2] = len;
    view[w + 3] = flags | (next << 16); // le16 flags, le16 next in one little-endian word
  }

  /** §2.7.13.2: place the head in avail.ring; it becomes visible at the next kick. */
  #publishEntry(head: number): void {
    const e = this.#availIdx & this.#mask;
    this.#avail16[AVAIL_RING / 2 + e] = head;
    this.#availShadow[e] = head;
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.stats.added++;
  }

  kick(): boolean {
    if (this.#error) throw this.#error;
    const oldIdx = this.#published;
    const newIdx = this.#availIdx;
    if (oldIdx === newIdx) return false;
    // §2.7.13.3: descriptors and ring entries (plain stores above) before the idx (seq-cst).
    Atomics.store(this.#avail16, AVAIL_IDX / 2, newIdx);
    this.#published = newIdx;
    this.#publishedSeq = this.#buffers.nextSeq;
    this.stats.publishes++;
    // §2.7.13.4 / §2.7.10: full barrier (the seq-cst store), then read the suppression field.
    let need: boolean;
    if (this.#eventIdx) {
      need = needEvent(Atomics.load(this.#used16, this.#availEventIndex), newIdx, oldIdx);
    } else {
      need = (Atomics.load(this.#used16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
    }
    if (need) {
      this.stats.notifications++;
      this.#notify(newIdx);
    }
    return need;
  }

  hasUsed(): boolean {
    if (this.#error) throw this.#error;
    return this.#skipTarget >= 0 || Atomics.load(this.#used16, USED_IDX / 2) !== this.#lastUsed;
  }

  pollUsed(outTokens: Uint32Array, outLens: Uint32Array): number {
    if (this.#error) throw this.#error;
    const cap = Math.min(outTokens.length, outLens.length);
    let n = 0;
    if (this.#skipTarget >= 0) n = this.#drainSkip(outTokens, outLens, 0, cap);
    // §2.7.14: read used.idx (acquire) before the entries it covers.
    const usedIdx = Atomics.load(this.#used16, USED_IDX / 2);
    const pending = (usedIdx - this.#lastUsed) & 0xffff;
    const visible = this.#buffers.count - ((this.#availIdx - this.#published) & 0xffff);
    if (pending > visible) {
      this.#fail(
        `used idx ${usedIdx} is ${pending} ahead of ${this.#lastUsed}, ` +
          `but only ${visible} buffers are in flight`,
      );
    }
    const buffers = this.#buffers;
    const used32 = this.#used32;
    let consumed = 0;
    while (consumed < pending && n < cap && this.#skipTarget < 0) {
      const e = 1 + (((this.#lastUsed + consumed) & this.#mask) << 1);
      const id = used32[e]!;
      const len = used32[e + 1]!;
      consumed++;
      if (id >= this.size || buffers.mark[id] === 0) {
        this.#fail(`used id ${id} is ${id >= this.size ? "out of range" : "not in flight"}`);
      }
      if (buffers.mark[id]! >= this.#publishedSeq) {
        this.#fail(`used id ${id} was not made available yet`);
      }
      if (len > buffers.writable[id]!) {
        this.#fail(
          `used len ${len} for id ${id} exceeds its ${buffers.writable[id]} writable bytes`,
        );
      }
      if (this.#inOrder && buffers.oldest() !== id) {
        // §2.7.9 (IN_ORDER): one entry for the last buffer of a batch completes all before it.
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
    if (consumed > 0) {
      this.#lastUsed = (this.#lastUsed + consumed) & 0xffff;
      if (this.#eventIdx && this.#interrupts) {
        Atomics.store(this.#avail16, this.#usedEventIndex, this.#lastUsed);
      }
    }
    return n;
  }

  /** Hands out the buffers an IN_ORDER batch entry completed, oldest first (len 0). */
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

  /** Frees a chain by following the shadow links — never the device-writable table. */
  #release(head: number): void {
    const count = this.#buffers.descCount[head]!;
    this.#buffers.finish(head);
    if (this.#slotMode) {
      this.stats.completed++;
      return; // the slot is the caller's again; no id list to keep
    }
    let id = head;
    for (let i = 0; i < count; i++) {
      this.#free.push(id);
      id = this.#nextShadow[id]!;
    }
    this.stats.completed++;
  }

  disableInterrupts(): void {
    if (this.#error) throw this.#error;
    this.#interrupts = false;
    if (this.#eventIdx) {
      // §2.7.7: with EVENT_IDX, flags must stay 0; an event index just behind us is reached
      // again only after 2^16 completions.
      Atomics.store(this.#avail16, this.#usedEventIndex, (this.#lastUsed - 1) & 0xffff);
    } else {
      Atomics.store(this.#avail16, AVAIL_FLAGS / 2, VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
  }

  enableInterrupts(): boolean {
    if (this.#error) throw this.#error;
    this.#interrupts = true;
    if (this.#eventIdx) {
      Atomics.store(this.#avail16, this.#usedEventIndex, this.#lastUsed);
    } else {
      Atomics.store(this.#avail16, AVAIL_FLAGS / 2, 0);
    }
    // Full barrier (seq-cst store above), then re-check: a completion that raced the
    // request would otherwise wait for the next one (§2.7.7).
    return this.hasUsed();
  }

  #fail(what: string): never {
    this.#error = deviceViolation(what, this.format, this.size);
    throw this.#error;
  }
}
