/**
 * The device side of one virtqueue, simulated over {@link FakeDma} memory, for both ring
 * formats (VIRTIO 1.2 §2.7 split, §2.8 packed). It reads what the driver made available,
 * completes buffers in any order the test chooses, honours the driver's interrupt
 * suppression and sets its own kick suppression — and it can misbehave on request: the
 * `raw*` and `scribble*` methods write what a broken or hostile device would.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createVirtqueue } from "../lib/queue/virtqueue.ts";
 * import { FakeDma } from "./fake_dma.ts";
 * import { SimQueue } from "./sim_device.ts";
 *
 * const dma = new FakeDma();
 * const sim = new SimQueue(dma, { format: "split", size: 8 });
 * const q = createVirtqueue({ dma, size: 8, format: "split", notify: sim.notify });
 * sim.attach(q.addresses);
 * const rx = dma.alloc(64);
 * q.addOne(rx.iova, 64, true, 1);
 * q.kick();
 * const [buf] = sim.take();
 * buf!.in[0]!.set([1, 2, 3]);
 * sim.complete(buf!, 3);
 * sim.publish();
 * const tokens = new Uint32Array(4), lens = new Uint32Array(4);
 * assert.equal(q.pollUsed(tokens, lens), 1);
 * assert.deepEqual([tokens[0], lens[0], rx.bytes[2]], [1, 3, 3]);
 * ```
 *
 * @module
 */

import type { QueueAddresses } from "../lib/virtio/transport.ts";
import * as L from "../lib/queue/layout.ts";
import type { RingFormat } from "../lib/queue/virtqueue.ts";
import { DmaFault, type FakeDma } from "./fake_dma.ts";

/** How to simulate one virtqueue. */
export interface SimQueueOptions {
  /** Ring format the driver uses (split §2.7 or packed §2.8). */
  readonly format: RingFormat;
  /** Queue size (number of descriptors). */
  readonly size: number;
  /** VIRTIO_F_EVENT_IDX negotiated: use the event index fields instead of flags for suppression. */
  readonly eventIdx?: boolean;
  /** Legacy layout (§2.7.2): only `desc` matters in attach(); the rest is derived. */
  readonly legacyLayout?: boolean;
}

/** A buffer the simulated device took off the ring. */
export interface SimBuffer {
  /** Split: head descriptor index; packed: buffer id. */
  readonly id: number;
  /** Device-readable segments (views into the driver's memory). */
  readonly out: Uint8Array[];
  /** Device-writable segments. */
  readonly in: Uint8Array[];
  /** Ring slots the buffer occupied (packed; split: chain length). */
  readonly descCount: number;
  /** Total bytes of the device-writable segments. */
  readonly writableLen: number;
}

/** The device misread the driver's rings (a driver bug the tests want to see). */
export class SimProtocolError extends Error {
  /** The error name. */
  override name = "SimProtocolError";
}

/** The device side of one virtqueue over FakeDma memory: takes available buffers, completes them. */
export class SimQueue {
  /** Ring format (split or packed). */
  readonly format: RingFormat;
  /** Queue size. */
  readonly size: number;
  /** Whether VIRTIO_F_EVENT_IDX suppression is in use. */
  readonly eventIdx: boolean;
  /** Driver → device notifications received (hand `notify` to the driver's queue). */
  kicks = 0;
  /** The value passed with the last notification (-1 before the first). */
  lastNotifyValue: number = -1;
  /** Device → driver notifications the device would have sent. */
  interrupts = 0;
  /** The driver's notify callback: counts a kick and keeps its value. */
  readonly notify = (value: number): void => {
    this.kicks++;
    this.lastNotifyValue = value;
  };

  readonly #dma: FakeDma;
  readonly #legacy: boolean;
  #desc: DataView | undefined;
  #driverArea: DataView | undefined;
  #deviceArea: DataView | undefined;
  // Device shadow state.
  #lastAvail = 0; // split: avail idx consumed; packed: next slot to read
  #availWrap = 1; // packed: wrap counter for reading
  #usedIdx = 0; // split: entries written; packed: next used slot
  #usedWrap = 1;
  #publishedUsed = 0; // split: used.idx last stored; packed: slot count at last publish
  #sinceInterrupt = 0;

  /** A simulated queue; call `attach` before use. */
  constructor(dma: FakeDma, options: SimQueueOptions) {
    this.#dma = dma;
    this.format = options.format;
    this.size = options.size;
    this.eventIdx = options.eventIdx ?? false;
    this.#legacy = options.legacyLayout ?? false;
  }

  /** Takes the queue's addresses, as a transport would program them. */
  attach(addresses: QueueAddresses): void {
    const size = this.size;
    if (this.format === "split") {
      const layout = L.splitLayout(size, this.#legacy);
      const base = addresses.desc;
      const avail = this.#legacy ? base + layout.avail : addresses.driver;
      const used = this.#legacy ? base + layout.used : addresses.device;
      this.#desc = this.#map(base, L.splitDescBytes(size));
      this.#driverArea = this.#map(avail, L.splitAvailBytes(size));
      this.#deviceArea = this.#map(used, L.splitUsedBytes(size));
    } else {
      this.#desc = this.#map(addresses.desc, L.PACKED_DESC_SIZE * size);
      this.#driverArea = this.#map(addresses.driver, L.EVENT_SUPPRESS_SIZE);
      this.#deviceArea = this.#map(addresses.device, L.EVENT_SUPPRESS_SIZE);
    }
  }

  #map(iova: number, len: number): DataView {
    const b = this.#dma.view(iova, len);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** The descriptor area (throws before `attach`). */
  get desc(): DataView {
    if (!this.#desc) throw new Error("SimQueue not attached");
    return this.#desc;
  }
  /** The driver area: split available ring or packed driver event suppression (throws before `attach`). */
  get driverArea(): DataView {
    if (!this.#driverArea) throw new Error("SimQueue not attached");
    return this.#driverArea;
  }
  /** The device area: split used ring or packed device event suppression (throws before `attach`). */
  get deviceArea(): DataView {
    if (!this.#deviceArea) throw new Error("SimQueue not attached");
    return this.#deviceArea;
  }

  // ---- consuming available buffers ------------------------------------------------------

  /** Takes up to `max` available buffers (§2.7.13 / §2.8.21 from the device's side). */
  take(max = Infinity): SimBuffer[] {
    const taken: SimBuffer[] = [];
    while (taken.length < max) {
      const b = this.format === "split" ? this.#takeSplit() : this.#takePacked();
      if (!b) break;
      taken.push(b);
    }
    return taken;
  }

  #takeSplit(): SimBuffer | undefined {
    const availIdx = this.driverArea.getUint16(L.AVAIL_IDX, true);
    if (availIdx === this.#lastAvail) return undefined;
    const slot = this.#lastAvail % this.size;
    const head = this.driverArea.getUint16(L.AVAIL_RING + 2 * slot, true);
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    if (this.eventIdx) {
      // §2.7.10: ask for a kick when the driver goes past what we have consumed.
      this.setAvailEvent(this.#lastAvail);
    }
    if (head >= this.size) throw new SimProtocolError(`avail head ${head} out of range`);
    const buf = { id: head, out: [] as Uint8Array[], in: [] as Uint8Array[], writableLen: 0 };
    let id = head;
    let count = 0;
    for (let budget = this.size; budget > 0; budget--) {
      const o = id * L.SPLIT_DESC_SIZE;
      const addr = this.#addr(this.desc, o);
      const len = this.desc.getUint32(o + L.SPLIT_DESC_LEN, true);
      const flags = this.desc.getUint16(o + L.SPLIT_DESC_FLAGS, true);
      count++;
      if (flags & L.VIRTQ_DESC_F_INDIRECT) {
        this.#readSplitIndirect(addr, len, buf);
      } else {
        this.#addSegment(buf, addr, len, (flags & L.VIRTQ_DESC_F_WRITE) !== 0);
      }
      if (!(flags & L.VIRTQ_DESC_F_NEXT)) return { ...buf, descCount: count };
      id = this.desc.getUint16(o + L.SPLIT_DESC_NEXT, true);
      if (id >= this.size) throw new SimProtocolError(`next ${id} out of range`);
    }
    throw new SimProtocolError(`descriptor chain from ${head} loops`);
  }

  #readSplitIndirect(
    addr: number,
    len: number,
    buf: { out: Uint8Array[]; in: Uint8Array[]; writableLen: number },
  ): void {
    if (len % L.SPLIT_DESC_SIZE !== 0 || len === 0) {
      throw new SimProtocolError(`indirect table length ${len}`);
    }
    const table = this.#map(addr, len);
    const n = len / L.SPLIT_DESC_SIZE;
    let i = 0;
    for (let budget = n; budget > 0; budget--) {
      const o = i * L.SPLIT_DESC_SIZE;
      const flags = table.getUint16(o + L.SPLIT_DESC_FLAGS, true);
      if (flags & L.VIRTQ_DESC_F_INDIRECT) throw new SimProtocolError("nested indirect");
      this.#addSegment(
        buf,
        this.#addr(table, o),
        table.getUint32(o + L.SPLIT_DESC_LEN, true),
        (flags & L.VIRTQ_DESC_F_WRITE) !== 0,
      );
      if (!(flags & L.VIRTQ_DESC_F_NEXT)) return;
      i = table.getUint16(o + L.SPLIT_DESC_NEXT, true);
      if (i >= n) throw new SimProtocolError(`indirect next ${i} out of table`);
    }
    throw new SimProtocolError("indirect chain loops");
  }

  #takePacked(): SimBuffer | undefined {
    const headPos = this.#lastAvail;
    if (!this.#packedAvailable(headPos, this.#availWrap)) return undefined;
    const buf = { out: [] as Uint8Array[], in: [] as Uint8Array[], writableLen: 0 };
    let pos = headPos;
    let wrap = this.#availWrap;
    let count = 0;
    let id = 0;
    for (let budget = this.size; budget > 0; budget--) {
      if (!this.#packedAvailable(pos, wrap)) {
        throw new SimProtocolError(`chain continues into unavailable slot ${pos}`);
      }
      const o = pos * L.PACKED_DESC_SIZE;
      const addr = this.#addr(this.desc, o);
      const len = this.desc.getUint32(o + L.PACKED_DESC_LEN, true);
      const flags = this.desc.getUint16(o + L.PACKED_DESC_FLAGS, true);
      id = this.desc.getUint16(o + L.PACKED_DESC_ID, true);
      count++;
      if (flags & L.VIRTQ_PACKED_F_INDIRECT) {
        this.#readPackedIndirect(addr, len, buf);
      } else {
        this.#addSegment(buf, addr, len, (flags & L.VIRTQ_PACKED_F_WRITE) !== 0);
      }
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1;
      }
      if (!(flags & L.VIRTQ_PACKED_F_NEXT)) {
        this.#lastAvail = pos;
        this.#availWrap = wrap;
        // §2.8.6: the buffer id is the one in the last descriptor of the chain.
        return { ...buf, id, descCount: count };
      }
    }
    throw new SimProtocolError(`chain at ${headPos} longer than the ring`);
  }

  #packedAvailable(pos: number, wrap: number): boolean {
    const flags = this.desc.getUint16(pos * L.PACKED_DESC_SIZE + L.PACKED_DESC_FLAGS, true);
    const avail = (flags >> 7) & 1;
    const used = flags >> 15;
    return avail === wrap && used !== wrap;
  }

  #readPackedIndirect(
    addr: number,
    len: number,
    buf: { out: Uint8Array[]; in: Uint8Array[]; writableLen: number },
  ): void {
    if (len % L.PACKED_DESC_SIZE !== 0 || len === 0) {
      throw new SimProtocolError(`indirect table length ${len}`);
    }
    const table = this.#map(addr, len);
    for (let o = 0; o < len; o += L.PACKED_DESC_SIZE) {
      const flags = table.getUint16(o + L.PACKED_DESC_FLAGS, true);
      this.#addSegment(
        buf,
        this.#addr(table, o),
        table.getUint32(o + L.PACKED_DESC_LEN, true),
        (flags & L.VIRTQ_PACKED_F_WRITE) !== 0,
      );
    }
  }

  #addr(view: DataView, o: number): number {
    return view.getUint32(o, true) + view.getUint32(o + 4, true) * 0x1_0000_0000;
  }

  #addSegment(
    buf: { out: Uint8Array[]; in: Uint8Array[]; writableLen: number },
    addr: number,
    len: number,
    writable: boolean,
  ): void {
    if (writable) {
      buf.in.push(this.#dma.view(addr, len));
      buf.writableLen += len;
    } else {
      if (buf.in.length > 0) {
        throw new SimProtocolError("readable segment after a writable one (§2.7.4.2)");
      }
      buf.out.push(this.#dma.view(addr, len));
    }
  }

  // ---- completing buffers ---------------------------------------------------------------

  /** Writes the used entry for `buf` with `len` bytes written. Visible after publish(). */
  complete(buf: SimBuffer, len: number): void {
    this.writeUsed(buf.id, len, buf.descCount);
  }

  /** Writes a used entry for any id (a hostile device can lie). Split: visible on publish(). */
  writeUsed(id: number, len: number, slots = 1): void {
    if (this.format === "split") {
      const o = L.USED_RING + (this.#usedIdx % this.size) * L.USED_ELEM_SIZE;
      this.deviceArea.setUint32(o, id >>> 0, true);
      this.deviceArea.setUint32(o + 4, len >>> 0, true);
      this.#usedIdx = (this.#usedIdx + 1) & 0xffff;
    } else {
      const o = this.#usedIdx * L.PACKED_DESC_SIZE;
      this.desc.setUint16(o + L.PACKED_DESC_ID, id & 0xffff, true);
      this.desc.setUint32(o + L.PACKED_DESC_LEN, len >>> 0, true);
      const w = this.#usedWrap;
      // §2.8.1: used = AVAIL and USED both equal to the device's used wrap counter.
      this.desc.setUint16(
        o + L.PACKED_DESC_FLAGS,
        w ? L.VIRTQ_PACKED_F_AVAIL | L.VIRTQ_PACKED_F_USED : 0,
        true,
      );
      this.#usedIdx += slots;
      while (this.#usedIdx >= this.size) {
        this.#usedIdx -= this.size;
        this.#usedWrap ^= 1;
      }
    }
    this.#sinceInterrupt++;
  }

  /**
   * Split: stores used.idx. Both: decides, as a device would, whether to interrupt the
   * driver (§2.7.7 / §2.8.10) and counts it. Returns whether it interrupted.
   */
  publish(): boolean {
    if (this.#sinceInterrupt === 0) return false;
    let need: boolean;
    if (this.format === "split") {
      const old = this.#publishedUsed;
      const now = this.#usedIdx;
      this.deviceArea.setUint16(L.USED_IDX, now, true);
      this.#publishedUsed = now;
      if (this.eventIdx) {
        const event = this.driverArea.getUint16(L.usedEventOffset(this.size), true);
        need = L.needEvent(event, now, old);
      } else {
        need = (this.driverArea.getUint16(L.AVAIL_FLAGS, true) &
          L.VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
      }
    } else {
      const flags = this.driverArea.getUint16(L.EVENT_FLAGS, true) & 3;
      if (flags === L.RING_EVENT_FLAGS_DESC && this.eventIdx) {
        const offWrap = this.driverArea.getUint16(L.EVENT_OFF_WRAP, true);
        const now = this.#usedIdx | (this.#usedWrap << 15);
        const old = this.#publishedUsed;
        need = packedWindowContains(offWrap, old, now, this.size);
      } else {
        need = flags !== L.RING_EVENT_FLAGS_DISABLE;
      }
      this.#publishedUsed = this.#usedIdx | (this.#usedWrap << 15);
    }
    this.#sinceInterrupt = 0;
    if (need) this.interrupts++;
    return need;
  }

  /** Takes everything available and completes it in order with `len` (clamped). */
  completeAll(len = 0): number {
    const bufs = this.take();
    for (const b of bufs) this.complete(b, Math.min(len, b.writableLen));
    this.publish();
    return bufs.length;
  }

  // ---- the device's kick suppression ----------------------------------------------------

  /** Without EVENT_IDX: VIRTQ_USED_F_NO_NOTIFY / RING_EVENT_FLAGS_DISABLE (§2.7.10, §2.8.10). */
  setKicksEnabled(enabled: boolean): void {
    if (this.format === "split") {
      this.deviceArea.setUint16(L.USED_FLAGS, enabled ? 0 : L.VIRTQ_USED_F_NO_NOTIFY, true);
    } else {
      this.deviceArea.setUint16(
        L.EVENT_FLAGS,
        enabled ? L.RING_EVENT_FLAGS_ENABLE : L.RING_EVENT_FLAGS_DISABLE,
        true,
      );
    }
  }

  /** EVENT_IDX, split: kick me when avail idx moves past `idx` (writes avail_event). */
  setAvailEvent(idx: number): void {
    this.deviceArea.setUint16(L.availEventOffset(this.size), idx & 0xffff, true);
  }

  /** EVENT_IDX, packed: kick me when the driver makes slot `offset` (lap `wrap`) available. */
  setPackedKickAt(offset: number, wrap: number): void {
    this.deviceArea.setUint16(L.EVENT_OFF_WRAP, (offset & 0x7fff) | ((wrap & 1) << 15), true);
    this.deviceArea.setUint16(L.EVENT_FLAGS, L.RING_EVENT_FLAGS_DESC, true);
  }

  /** Packed: the device's next read position and wrap, for setPackedKickAt. */
  get packedNextAvail(): { offset: number; wrap: number } {
    return { offset: this.#lastAvail, wrap: this.#availWrap };
  }

  // ---- misbehaviour ---------------------------------------------------------------------

  /** Split: stores any value in used.idx (an index jump). */
  rawSetUsedIdx(value: number): void {
    this.deviceArea.setUint16(L.USED_IDX, value & 0xffff, true);
  }

  /** Split: writes used ring element `index` directly. */
  rawWriteUsedElem(index: number, id: number, len: number): void {
    const o = L.USED_RING + (index % this.size) * L.USED_ELEM_SIZE;
    this.deviceArea.setUint32(o, id >>> 0, true);
    this.deviceArea.setUint32(o + 4, len >>> 0, true);
  }

  /** Packed: writes descriptor slot `pos` directly (id, len, flags). */
  rawWritePackedDesc(pos: number, id: number, len: number, flags: number): void {
    const o = (pos % this.size) * L.PACKED_DESC_SIZE;
    this.desc.setUint16(o + L.PACKED_DESC_ID, id & 0xffff, true);
    this.desc.setUint32(o + L.PACKED_DESC_LEN, len >>> 0, true);
    this.desc.setUint16(o + L.PACKED_DESC_FLAGS, flags & 0xffff, true);
  }

  /** Overwrites the descriptor area with `random()` bytes — whatever the driver wrote. */
  scribbleDescriptors(random: () => number): void {
    for (let o = 0; o < this.desc.byteLength; o++) {
      this.desc.setUint8(o, Math.floor(random() * 256));
    }
  }

  /** Next split used index / packed used slot the device would write. */
  get usedCursor(): { index: number; wrap: number } {
    return { index: this.#usedIdx, wrap: this.#usedWrap };
  }
}

/**
 * Packed EVENT_IDX (§2.8.10): did the used cursor move from `old` to `now` (both
 * offset | wrap << 15) across the driver's event point `offWrap`?
 */
function packedWindowContains(offWrap: number, old: number, now: number, size: number): boolean {
  const lin = (v: number) => (v & 0x7fff) + ((v >> 15) & 1) * size;
  const period = 2 * size;
  const moved = (lin(now) - lin(old) + period) % period;
  const dist = (lin(offWrap) - lin(old) + period) % period;
  return moved > 0 && dist < moved;
}

export { DmaFault };
