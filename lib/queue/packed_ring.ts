/**
 * Packed virtqueue, driver side (VIRTIO 1.2 §2.8): the ring and the add/kick/poll core. The
 * bulk slot path (addSlot, useSlots, addSlots, pollSlots) is {@link PackedQueue} in packed.ts,
 * over this.
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
import { checkSegment, checkToken, iovaHigh, iovaLow } from "./shadow.ts";
import type { Segment, VirtqueueOptions } from "./types.ts";
import { QueueCore } from "./core.ts";

/** The CPU keeps loads in order (x86-64 TSO): a plain load of the flags is an acquire. */
export const LOADS_ORDERED = Deno.build.arch === "x86_64";

/** Flags that make a descriptor available in the lap with wrap counter `wrap` (§2.8.1). */
export function availBits(wrap: number): number {
  return wrap ? VIRTQ_PACKED_F_AVAIL : VIRTQ_PACKED_F_USED;
}

/**
 * A packed ring with the one-by-one calls (addOne, addBuffer's ring writes, kick, pollUsed); the
 * state and checks it shares with split are in {@link QueueCore}.
 */
export abstract class PackedRing extends QueueCore {
  readonly format = "packed" as const;
  readonly addresses: QueueAddresses;

  protected readonly desc32: Uint32Array; // addr lo, addr hi, len, id|flags<<16
  protected readonly desc16: Uint16Array; // id at 8i+6, flags at 8i+7
  protected readonly driverEvent16: Uint16Array; // off_wrap, flags — written by us
  protected readonly deviceEvent16: Uint16Array; // off_wrap, flags — written by the device
  // Shadow state beyond QueueCore's.
  protected freeSlots: number;
  protected nextAvail = 0;
  protected availWrap = 1; // §2.8.1: both wrap counters start at 1
  protected lastUsed = 0;
  protected usedWrap = 1;
  protected added = 0; // slots made available since the last kick
  protected batchHeadPos = 0; // first slot of the unpublished batch; its flags wait for kick()
  protected batchHeadFlags = 0;

  /** Checks the options (RangeError) and lays the ring out (§2.8.10, §2.8.13). */
  constructor(options: VirtqueueOptions) {
    const size = options.size;
    const layout = packedLayout(size);
    super("packed", options, layout);
    const { buffer, byteOffset } = this.region.bytes;
    this.desc32 = new Uint32Array(buffer, byteOffset + layout.desc, 4 * size);
    this.desc16 = new Uint16Array(buffer, byteOffset + layout.desc, 8 * size);
    this.driverEvent16 = new Uint16Array(buffer, byteOffset + layout.driver, 2);
    this.deviceEvent16 = new Uint16Array(buffer, byteOffset + layout.device, 2);
    const iova = this.region.iova;
    this.addresses = {
      desc: iova + layout.desc,
      driver: iova + layout.driver,
      device: iova + layout.device,
    };
    this.allocIndirect(options, PACKED_DESC_SIZE);
    this.freeSlots = size;
  }

  get freeDescriptors(): number {
    return this.freeSlots;
  }

  addOne(iova: number, len: number, deviceWritable: boolean, token: number): boolean {
    if (this.error !== undefined || this.slotMode) this.checkFeed(); // throws
    if (this.freeSlots === 0) return false;
    checkSegment(iova, len);
    checkToken(token);
    const id = this.ids.pop();
    const pos = this.nextAvail;
    const w = pos << 2;
    this.desc32[w] = iovaLow(iova);
    this.desc32[w + 1] = iovaHigh(iova);
    this.desc32[w + 2] = len;
    this.desc16[(pos << 3) + 6] = id;
    const flags = (deviceWritable ? VIRTQ_PACKED_F_WRITE : 0) | availBits(this.availWrap);
    this.makeAvailable(pos, flags); // §2.8.21: flags last
    this.buffers.start(id, token, deviceWritable ? len : 0, 1);
    this.advance(1);
    return true;
  }

  protected writeChain(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    writable: number,
  ): void {
    const n = out.length + inn.length;
    const id = this.ids.pop();
    const headPos = this.nextAvail;
    const headWrap = this.availWrap;
    let headFlags = 0;
    let pos = headPos;
    let wrap = headWrap;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const flags = (i >= out.length ? VIRTQ_PACKED_F_WRITE : 0) |
        (i === n - 1 ? 0 : VIRTQ_PACKED_F_NEXT) | availBits(wrap);
      const w = pos << 2;
      this.desc32[w] = iovaLow(seg.iova);
      this.desc32[w + 1] = iovaHigh(seg.iova);
      this.desc32[w + 2] = seg.len;
      this.desc16[(pos << 3) + 6] = id; // §2.8.6: the id is in every descriptor we write
      if (i === 0) headFlags = flags;
      else this.desc16[(pos << 3) + 7] = flags;
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1; // a chain may cross the end of the ring: later slots are in the next lap
      }
    }
    // §2.8.21: the whole chain is in memory before its head flags make it available.
    this.makeAvailable(headPos, headFlags);
    this.buffers.start(id, token, writable, n);
    this.advance(n);
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
    const base = id * this.maxIndirect;
    for (let i = 0; i < n; i++) {
      const seg = i < out.length ? out[i]! : inn[i - out.length]!;
      const w = (base + i) << 2;
      table32[w] = iovaLow(seg.iova);
      table32[w + 1] = iovaHigh(seg.iova);
      table32[w + 2] = seg.len;
      // §2.8.7: table entries are sequential; only WRITE is meaningful, id is unused.
      table32[w + 3] = (i >= out.length ? VIRTQ_PACKED_F_WRITE : 0) << 16;
    }
    const pos = this.nextAvail;
    const w = pos << 2;
    const at = tableIova + base * PACKED_DESC_SIZE;
    this.desc32[w] = iovaLow(at);
    this.desc32[w + 1] = iovaHigh(at);
    this.desc32[w + 2] = n * PACKED_DESC_SIZE;
    this.desc16[(pos << 3) + 6] = id;
    this.makeAvailable(pos, VIRTQ_PACKED_F_INDIRECT | availBits(this.availWrap));
    this.buffers.start(id, token, writable, 1);
    this.advance(1);
  }

  /**
   * Sets a buffer's head flags — except for the first buffer of a batch, whose flags kick()
   * stores last: the device reads the ring in order and stops at that slot, so the whole
   * batch appears at once, with one seq-cst store per batch (like split's avail.idx).
   */
  protected makeAvailable(pos: number, flags: number): void {
    if (this.added === 0) {
      this.batchHeadPos = pos;
      this.batchHeadFlags = flags;
    } else {
      this.desc16[(pos << 3) + 7] = flags;
    }
  }

  protected advance(slots: number): void {
    this.freeSlots -= slots;
    this.added += slots;
    this.nextAvail += slots;
    if (this.nextAvail >= this.size) {
      this.nextAvail -= this.size;
      this.availWrap ^= 1;
    }
    this.stats.added++;
  }

  kick(): boolean {
    if (this.error) throw this.error;
    if (this.added === 0) return false;
    const added = this.added;
    this.added = 0;
    // §2.8.21: every descriptor of the batch (plain stores) before the first one's flags.
    Atomics.store(this.desc16, (this.batchHeadPos << 3) + 7, this.batchHeadFlags);
    this.publishedSeq = this.buffers.nextSeq;
    this.stats.publishes++;
    // §2.8.10 / §2.8.21: the flag stores were seq-cst; now read the device's wishes.
    const flags = Atomics.load(this.deviceEvent16, EVENT_FLAGS / 2) & 3;
    let need: boolean;
    if (flags === RING_EVENT_FLAGS_DESC && this.eventIdx) {
      const offWrap = Atomics.load(this.deviceEvent16, EVENT_OFF_WRAP / 2);
      let event = offWrap & 0x7fff;
      if (offWrap >>> EVENT_WRAP_BIT !== this.availWrap) event -= this.size;
      // Offsets relative to the current lap: the batch covered (new - added, new].
      need = needEvent(event, this.nextAvail, this.nextAvail - added);
    } else {
      need = flags !== RING_EVENT_FLAGS_DISABLE;
    }
    if (need) {
      this.stats.notifications++;
      // NOTIFICATION_DATA for packed rings: next offset and wrap counter.
      this.notify(this.nextAvail | (this.availWrap << EVENT_WRAP_BIT));
    }
    return need;
  }

  hasUsed(): boolean {
    if (this.error) throw this.error;
    if (this.skipTarget >= 0) return true;
    if (this.freeSlots + this.added === this.size) return false; // nothing published
    const f = Atomics.load(this.desc16, (this.lastUsed << 3) + 7);
    return this.isUsed(f);
  }

  /**
   * Classifies the flags at `lastUsed`, which the driver made available in lap `usedWrap`
   * (§2.8.1): AVAIL = wrap and USED ≠ wrap — still the device's; both = wrap — used.
   * Any other combination cannot come from a correct device.
   */
  protected isUsed(flags: number): boolean {
    const avail = (flags >>> 7) & 1;
    const used = flags >>> 15;
    if (avail === this.usedWrap) {
      if (used === this.usedWrap) return true;
      return false;
    }
    this.fail(
      `descriptor ${this.lastUsed} flags 0x${flags.toString(16)} contradict wrap counter ` +
        `${this.usedWrap} (AVAIL=${avail}, USED=${used})`,
    );
  }

  pollUsed(outTokens: Uint32Array, outLens: Uint32Array): number {
    if (this.error) throw this.error;
    const cap = Math.min(outTokens.length, outLens.length);
    let n = 0;
    if (this.skipTarget >= 0) n = this.drainSkip(outTokens, outLens, 0, cap);
    const buffers = this.buffers;
    let consumed = false;
    // Each round retires ≥ 1 slot, so the loop ends after at most `size` rounds. Only
    // published slots are looked at: an unpublished batch's first flags are still stale.
    while (n < cap && this.skipTarget < 0 && this.freeSlots + this.added < this.size) {
      const pos = this.lastUsed;
      // §2.8.22: flags first (acquire), then id and len.
      if (!this.isUsed(Atomics.load(this.desc16, (pos << 3) + 7))) break;
      const id = this.desc16[(pos << 3) + 6]!;
      const len = this.desc32[(pos << 2) + 2]!;
      // Everything in a used entry is the device's word: one test here, the message cold.
      const m = id < this.size ? buffers.mark[id]! : 0; // 0: out of range or not in flight
      if (m === 0 || m >= this.publishedSeq || len > buffers.writable[id]!) {
        this.usedFault(id, len, m, buffers.writable[id]!, "buffer id");
      }
      consumed = true;
      if (this.inOrder && buffers.oldest() !== id) {
        // §2.8.8 (IN_ORDER): one used descriptor for the last buffer completes the batch.
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
    if (consumed && this.eventIdx && this.interrupts) this.requestEventAtLastUsed();
    return n;
  }

  /** §2.8.22: skip the slots the buffer occupied; flip the used wrap counter at the end. */
  protected release(id: number): void {
    const slots = this.buffers.descCount[id]!;
    this.buffers.finish(id);
    if (!this.slotMode) this.ids.push(id);
    this.freeSlots += slots;
    this.lastUsed += slots;
    if (this.lastUsed >= this.size) {
      this.lastUsed -= this.size;
      this.usedWrap ^= 1;
    }
    this.stats.completed++;
  }

  protected requestEventAtLastUsed(): void {
    Atomics.store(
      this.driverEvent16,
      EVENT_OFF_WRAP / 2,
      this.lastUsed | (this.usedWrap << EVENT_WRAP_BIT),
    );
  }

  protected writeInterruptWish(on: boolean): void {
    if (!on) {
      Atomics.store(this.driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_DISABLE);
    } else if (this.eventIdx) {
      this.requestEventAtLastUsed();
      Atomics.store(this.driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_DESC);
    } else {
      Atomics.store(this.driverEvent16, EVENT_FLAGS / 2, RING_EVENT_FLAGS_ENABLE);
    }
  }
}
