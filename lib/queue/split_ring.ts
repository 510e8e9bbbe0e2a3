/**
 * Split virtqueue, driver side (VIRTIO 1.2 §2.7): the rings and the add/kick/poll core. The
 * bulk slot path (addSlot, useSlots, addSlots, pollSlots) is {@link SplitQueue} in split.ts,
 * over this.
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
import { checkSegment, checkToken, iovaHigh, iovaLow } from "./shadow.ts";
import type { Segment, VirtqueueOptions } from "./types.ts";
import { QueueCore } from "./core.ts";

/**
 * Split rings with the one-by-one calls (addOne, addBuffer's ring writes, kick, pollUsed); the
 * state and checks it shares with packed are in {@link QueueCore}.
 */
export abstract class SplitRing extends QueueCore {
  readonly format = "split" as const;
  readonly addresses: QueueAddresses;

  protected readonly mask: number;
  // Views made once on the ring memory.
  protected readonly desc32: Uint32Array; // 4 words per descriptor: addr lo, addr hi, len, flags|next<<16
  protected readonly avail16: Uint16Array; // flags, idx, ring[size], used_event
  protected readonly used16: Uint16Array; // flags, idx, ... avail_event
  protected readonly used32: Uint32Array; // word 0 = flags|idx, then id, len pairs
  protected readonly usedEventIndex: number;
  protected readonly availEventIndex: number;
  // Shadow state beyond QueueCore's.
  protected readonly nextShadow: Uint16Array; // chain links as the driver wrote them
  // What each avail.ring entry holds as we last wrote it (0xffff: not written yet). With
  // fixed slots and a device that completes in order, entry i gets the same slot every lap;
  // not rewriting it leaves that cache line clean in the device's cache (only avail.idx's
  // line changes per batch). We never read the ring back: the driver area is ours (§2.7.6).
  protected readonly availShadow: Uint16Array;
  protected availIdx = 0; // next avail.idx value (free-running u16)
  protected published = 0; // avail.idx last stored to memory
  protected lastUsed = 0; // used.idx value up to which entries were consumed

  /** Checks the options (RangeError) and lays the rings out (§2.7, legacy §2.7.2). */
  constructor(options: VirtqueueOptions) {
    const size = options.size;
    const layout = splitLayout(size, options.legacyLayout ?? false);
    super("split", options, layout);
    this.mask = size - 1;
    const { buffer, byteOffset } = this.region.bytes;
    this.desc32 = new Uint32Array(buffer, byteOffset + layout.desc, 4 * size);
    this.avail16 = new Uint16Array(buffer, byteOffset + layout.avail, 3 + size);
    this.used16 = new Uint16Array(buffer, byteOffset + layout.used, 3 + 4 * size);
    this.used32 = new Uint32Array(buffer, byteOffset + layout.used, 1 + 2 * size);
    this.usedEventIndex = usedEventOffset(size) / 2;
    this.availEventIndex = availEventOffset(size) / 2;
    const iova = this.region.iova;
    this.addresses = {
      desc: iova + layout.desc,
      driver: iova + layout.avail,
      device: iova + layout.used,
    };
    this.allocIndirect(options, SPLIT_DESC_SIZE);
    this.nextShadow = new Uint16Array(size);
    this.availShadow = new Uint16Array(size).fill(0xffff);
  }

  get freeDescriptors(): number {
    return this.slotMode ? this.size - this.buffers.count : this.ids.count;
  }

  addOne(iova: number, len: number, deviceWritable: boolean, token: number): boolean {
    if (this.error !== undefined || this.slotMode) this.checkFeed(); // throws
    if (this.ids.count === 0) return false;
    checkSegment(iova, len);
    checkToken(token);
    const id = this.ids.pop();
    this.writeDesc(this.desc32, id, iova, len, deviceWritable ? VIRTQ_DESC_F_WRITE : 0, 0);
    this.buffers.start(id, token, deviceWritable ? len : 0, 1);
    this.publishEntry(id);
    return true;
  }

  protected writeChain(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    writable: number,
  ): void {
    const n = out.length + inn.length;
    // §2.7.5.2 / §2.7.13.1: head first, each descriptor's next names the following one.
    const head = this.ids.pop();
    let id = head;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const last = i === n - 1;
      const next = last ? 0 : this.ids.pop();
      const flags = (i >= out.length ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      this.writeDesc(this.desc32, id, seg.iova, seg.len, flags, next);
      this.nextShadow[id] = next;
      id = next;
    }
    this.buffers.start(head, token, writable, n);
    this.publishEntry(head);
  }

  protected writeIndirect(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    writable: number,
    tableIova: number,
    table32: Uint32Array,
  ): void {
    const n = out.length + inn.length;
    const id = this.ids.pop();
    const base = id * this.maxIndirect; // this id's own table: no sharing, no allocation
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const last = i === n - 1;
      const flags = (i >= out.length ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      // §2.7.5.3.1: entries of an indirect table chain by index within the table.
      this.writeDesc(table32, base + i, seg.iova, seg.len, flags, last ? 0 : i + 1);
    }
    const at = tableIova + base * SPLIT_DESC_SIZE;
    this.writeDesc(this.desc32, id, at, n * SPLIT_DESC_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
    this.buffers.start(id, token, writable, 1);
    this.publishEntry(id);
  }

  protected writeDesc(
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
  protected publishEntry(head: number): void {
    const e = this.availIdx & this.mask;
    this.avail16[AVAIL_RING / 2 + e] = head;
    this.availShadow[e] = head;
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.stats.added++;
  }

  kick(): boolean {
    if (this.error) throw this.error;
    const oldIdx = this.published;
    const newIdx = this.availIdx;
    if (oldIdx === newIdx) return false;
    // §2.7.13.3: descriptors and ring entries (plain stores above) before the idx (seq-cst).
    Atomics.store(this.avail16, AVAIL_IDX / 2, newIdx);
    this.published = newIdx;
    this.publishedSeq = this.buffers.nextSeq;
    this.stats.publishes++;
    // §2.7.13.4 / §2.7.10: full barrier (the seq-cst store), then read the suppression field.
    let need: boolean;
    if (this.eventIdx) {
      need = needEvent(Atomics.load(this.used16, this.availEventIndex), newIdx, oldIdx);
    } else {
      need = (Atomics.load(this.used16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
    }
    if (need) {
      this.stats.notifications++;
      this.notify(newIdx);
    }
    return need;
  }

  hasUsed(): boolean {
    if (this.error) throw this.error;
    return this.skipTarget >= 0 || Atomics.load(this.used16, USED_IDX / 2) !== this.lastUsed;
  }

  pollUsed(outTokens: Uint32Array, outLens: Uint32Array): number {
    if (this.error) throw this.error;
    const cap = Math.min(outTokens.length, outLens.length);
    let n = 0;
    if (this.skipTarget >= 0) n = this.drainSkip(outTokens, outLens, 0, cap);
    // §2.7.14: read used.idx (acquire) before the entries it covers.
    const usedIdx = Atomics.load(this.used16, USED_IDX / 2);
    const pending = (usedIdx - this.lastUsed) & 0xffff;
    const visible = this.buffers.count - ((this.availIdx - this.published) & 0xffff);
    if (pending > visible) {
      this.fail(
        `used idx ${usedIdx} is ${pending} ahead of ${this.lastUsed}, ` +
          `but only ${visible} buffers are in flight`,
      );
    }
    const buffers = this.buffers;
    const used32 = this.used32;
    let consumed = 0;
    while (consumed < pending && n < cap && this.skipTarget < 0) {
      const e = 1 + (((this.lastUsed + consumed) & this.mask) << 1);
      const id = used32[e]!;
      const len = used32[e + 1]!;
      consumed++;
      // Everything in a used entry is the device's word: one test here, the message cold.
      const m = id < this.size ? buffers.mark[id]! : 0; // 0: out of range or not in flight
      if (m === 0 || m >= this.publishedSeq || len > buffers.writable[id]!) {
        this.usedFault(id, len, m, buffers.writable[id]!, "id");
      }
      if (this.inOrder && buffers.oldest() !== id) {
        // §2.7.9 (IN_ORDER): one entry for the last buffer of a batch completes all before it.
        this.skipTarget = id;
        this.skipLen = len;
        n = this.drainSkip(outTokens, outLens, n, cap);
        continue;
      }
      outTokens[n] = buffers.token[id]!;
      outLens[n] = len;
      n++;
      this.release(id);
    }
    if (consumed > 0) {
      this.lastUsed = (this.lastUsed + consumed) & 0xffff;
      if (this.eventIdx && this.interrupts) {
        Atomics.store(this.avail16, this.usedEventIndex, this.lastUsed);
      }
    }
    return n;
  }

  /** Frees a chain by following the shadow links — never the device-writable table. */
  protected release(head: number): void {
    const count = this.buffers.descCount[head]!;
    this.buffers.finish(head);
    if (this.slotMode) {
      this.stats.completed++;
      return; // the slot is the caller's again; no id list to keep
    }
    let id = head;
    for (let i = 0; i < count; i++) {
      this.ids.push(id);
      id = this.nextShadow[id]!;
    }
    this.stats.completed++;
  }

  protected writeInterruptWish(on: boolean): void {
    if (this.eventIdx) {
      // §2.7.7: with EVENT_IDX, flags must stay 0; to disable, an event index just behind us
      // is reached again only after 2^16 completions.
      const event = on ? this.lastUsed : (this.lastUsed - 1) & 0xffff;
      Atomics.store(this.avail16, this.usedEventIndex, event);
    } else {
      Atomics.store(this.avail16, AVAIL_FLAGS / 2, on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
  }
}
