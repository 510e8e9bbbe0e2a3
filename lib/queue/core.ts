/**
 * What split (VIRTIO 1.2 §2.7) and packed (§2.8) queues share, written once: the options check,
 * the ring and indirect-table memory, the shadow state ({@link BufferStates}, free ids),
 * addBuffer's checks (the ring writes are the subclass's), the checks on a used entry, IN_ORDER batch draining, the slot-mode entry checks, failure marking
 * and the interrupt calls. {@link SplitQueue} and {@link PackedQueue} extend it with their ring
 * layouts; the hot loops (addSlots, pollSlots, kick) stay in those files, next to the ring
 * they walk.
 *
 * @module
 */

import type { DmaRegion } from "../dma/memory.ts";
import type { DeviceError } from "../errors.ts";
import { InOrderSlots } from "./in_order_slots.ts";
import { MAX_QUEUE_SIZE } from "./layout.ts";
import {
  BufferStates,
  checkChain,
  checkSlotLayout,
  checkToken,
  deviceViolation,
  IdFifo,
  type SlotLayout,
} from "./shadow.ts";
import type { QueueStats, RingFormat, Segment, VirtqueueOptions } from "./types.ts";

/** Throws RangeError for a size or option combination the spec forbids. */
export function checkQueueOptions(options: VirtqueueOptions, format = options.format): void {
  const { size } = options;
  if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE) {
    throw new RangeError(`queue size ${size} outside 1 … ${MAX_QUEUE_SIZE}`);
  }
  if (format === "split" && (size & (size - 1)) !== 0) {
    // §2.7: "Queue Size ... value is always a power of 2" for split virtqueues.
    throw new RangeError(`split queue size ${size} is not a power of two`);
  }
  if (format === "packed" && options.legacyLayout) {
    throw new RangeError(
      "packed virtqueues have no legacy layout (VIRTIO_F_RING_PACKED needs 1.x)",
    );
  }
  const maxIndirect = options.maxIndirect ?? 16;
  if (!Number.isInteger(maxIndirect) || maxIndirect < 1 || maxIndirect > MAX_QUEUE_SIZE) {
    throw new RangeError(`maxIndirect ${maxIndirect} outside 1 … ${MAX_QUEUE_SIZE}`);
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new RangeError("virtqueues need a little-endian CPU (typed arrays use host order)");
  }
}

/** The state and checks both ring formats share; the ring itself is the subclass's. */
export abstract class QueueCore {
  abstract readonly format: RingFormat;
  readonly size: number;
  /** The ring memory (tests and the simulated device look at it). */
  readonly region: DmaRegion;
  readonly stats: QueueStats = { added: 0, completed: 0, publishes: 0, notifications: 0 };

  protected readonly eventIdx: boolean;
  protected readonly inOrder: boolean;
  protected readonly notify: (value: number) => void;
  // Indirect tables: one per buffer id, maxIndirect entries each.
  protected readonly maxIndirect: number;
  protected indirect?: DmaRegion;
  protected indirect32?: Uint32Array;
  // Shadow state: free ids (split: descriptor-table entries; packed: buffer ids), buffers.
  protected readonly ids: IdFifo;
  protected readonly buffers: BufferStates;
  // Fixed-slot mode (addSlot); bulk slot mode (useSlots): slot s at base + s * stride.
  protected slotMode = false;
  protected bulk: SlotLayout | undefined;
  protected publishedSeq = 1; // buffers with a lower sequence number are visible to the device
  protected interrupts = true;
  protected skipTarget = -1; // IN_ORDER: batch completion still being handed out
  protected skipLen = 0;
  protected error: DeviceError | undefined;
  #inOrderScratch: InOrderSlots | undefined;

  /** Checks the options (as `format`) and allocates the zeroed ring of `ring.total` bytes. */
  constructor(
    format: RingFormat,
    options: VirtqueueOptions,
    ring: { total: number; align: number },
  ) {
    checkQueueOptions(options, format);
    const size = options.size;
    this.size = size;
    this.eventIdx = options.eventIdx ?? false;
    this.inOrder = options.inOrder ?? false;
    this.notify = options.notify;
    const region = options.dma.alloc(ring.total, ring.align);
    this.region = region;
    // Split: flags, idx and entries 0. Packed: flags 0 — no descriptor is available in lap 1
    // (AVAIL=1, USED=0).
    region.bytes.fill(0);
    if (region.bytes.byteOffset % 8 !== 0) {
      throw new RangeError("DMA region bytes are not 8-byte aligned");
    }
    this.maxIndirect = options.maxIndirect ?? 16;
    this.ids = new IdFifo(size);
    this.buffers = new BufferStates(size, this.inOrder);
  }

  /** Allocates the indirect tables (§2.7.5.3, §2.8.7) of `descSize`-byte entries. */
  protected allocIndirect(options: VirtqueueOptions, descSize: number): void {
    if (!options.indirect) return;
    const table = options.dma.alloc(this.size * this.maxIndirect * descSize, 16);
    if (table.bytes.byteOffset % 8 !== 0) throw new RangeError("indirect region misaligned");
    this.indirect = table;
    this.indirect32 = new Uint32Array(
      table.bytes.buffer,
      table.bytes.byteOffset,
      this.size * this.maxIndirect * (descSize / 4),
    );
  }

  /** True once the device broke the contract; every call then throws. */
  get broken(): boolean {
    return this.error !== undefined;
  }
  /** Buffers made available and not yet returned by pollUsed. */
  get inFlight(): number {
    return this.buffers.count;
  }

  /** Descriptors (split: table entries; packed: ring slots) free right now. */
  abstract get freeDescriptors(): number;
  /** True when the device has published a used buffer that pollUsed has not collected. */
  abstract hasUsed(): boolean;
  /** Gives a collected buffer's descriptors back (split: chain; packed: ring slots). */
  protected abstract release(id: number): void;
  /** Writes the driver's notification wish to the ring (§2.7.7, §2.8.10). */
  protected abstract writeInterruptWish(on: boolean): void;

  /** Asks the device not to send used-buffer notifications (interrupts) — poll mode. */
  disableInterrupts(): void {
    if (this.error) throw this.error;
    this.interrupts = false;
    this.writeInterruptWish(false);
  }

  /**
   * Asks for a notification on the next used buffer. Returns true if one is already there:
   * after the seq-cst store of the wish (a full barrier) the re-check closes the race of
   * §2.7.7 / §2.8.10, where a completion that raced the request would wait for the next one.
   */
  enableInterrupts(): boolean {
    if (this.error) throw this.error;
    this.interrupts = true;
    this.writeInterruptWish(true);
    return this.hasUsed();
  }

  /**
   * Adds a chain (§2.7.5, §2.8.6), or with `useIndirect` one descriptor naming an indirect
   * table (§2.7.5.3, §2.8.7): the checks both formats make, then the subclass's ring writes.
   * False, with nothing written, when too few descriptors are free.
   */
  addBuffer(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    useIndirect = false,
  ): boolean {
    this.checkFeed();
    checkToken(token);
    if (useIndirect) {
      const table = this.indirect;
      const table32 = this.indirect32;
      if (!table || !table32) throw new RangeError("indirect descriptors were not negotiated");
      const writable = checkChain(out, inn, this.maxIndirect);
      if (this.freeDescriptors === 0) return false;
      this.writeIndirect(out, inn, token, writable, table.iova, table32);
      return true;
    }
    const writable = checkChain(out, inn, this.size);
    if (this.freeDescriptors < out.length + inn.length) return false;
    this.writeChain(out, inn, token, writable);
    return true;
  }

  /** Writes a checked chain that fits (addBuffer) and makes it available at the next kick. */
  protected abstract writeChain(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    writable: number,
  ): void;
  /** Writes a checked chain into this buffer id's indirect table, then the one descriptor. */
  protected abstract writeIndirect(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    writable: number,
    tableIova: number,
    table32: Uint32Array,
  ): void;

  /** Marks the queue broken with a DeviceError naming the violation, and throws it. */
  protected fail(what: string): never {
    this.error = deviceViolation(what, this.format, this.size);
    throw this.error;
  }

  /** addOne/addBuffer's entry check: not broken, not a slot-fed queue. */
  protected checkFeed(): void {
    if (this.error) throw this.error;
    if (this.slotMode) throw new RangeError("this queue is fed with addSlot");
  }

  /**
   * The cold path of pollUsed's and pollSlots' one combined test on a used entry (id, len):
   * `m` is the id's mark (0 when out of range or not in flight), `limit` the bytes it may have
   * written; `noun` names the id ("id" for split's used ring, "buffer id" for packed). Fails
   * with the first rule broken: in flight, made available, length within what it may write.
   * (The checks stay inline in the loops, not in a shared method: one test per entry there.)
   */
  protected usedFault(id: number, len: number, m: number, limit: number, noun: string): never {
    if (m === 0) {
      this.fail(`used ${noun} ${id} is ${id >= this.size ? "out of range" : "not in flight"}`);
    }
    if (m >= this.publishedSeq) this.fail(`used ${noun} ${id} was not made available yet`);
    this.fail(`used len ${len} for id ${id} exceeds its ${limit} writable bytes`);
  }

  /** Hands out the buffers an IN_ORDER batch entry completed, oldest first (len 0). */
  protected drainSkip(
    outTokens: Uint32Array,
    outLens: Uint32Array,
    n: number,
    cap: number,
  ): number {
    while (n < cap && this.skipTarget >= 0) {
      const id = this.buffers.oldest();
      outTokens[n] = this.buffers.token[id]!;
      outLens[n] = id === this.skipTarget ? this.skipLen : 0;
      n++;
      if (id === this.skipTarget) this.skipTarget = -1;
      this.release(id);
    }
    return n;
  }

  /** Switches to fixed-slot mode; refused once addOne/addBuffer buffers exist. */
  protected enterSlotMode(): void {
    if (this.buffers.count !== 0 || this.ids.count !== this.size) {
      throw new RangeError("addSlot on a queue that already has buffers from addOne/addBuffer");
    }
    this.slotMode = true;
  }

  /** addSlot's entry checks: slot in range and free, address as useSlots laid it out. */
  protected checkSlot(slot: number, iova: number): void {
    if (this.error) throw this.error;
    if (!this.slotMode) this.enterSlotMode();
    if (!(slot >>> 0 === slot && slot < this.size) || this.buffers.mark[slot] !== 0) {
      throw new RangeError(`slot ${slot} is out of range or already in flight`);
    }
    if (this.bulk && iova !== this.bulk.base + slot * this.bulk.stride) {
      throw new RangeError(`slot ${slot}: address differs from the useSlots layout`);
    }
  }

  /** useSlots' entry checks; enters slot mode. */
  protected startBulk(iovaBase: number, stride: number): void {
    if (this.error) throw this.error;
    if (this.slotMode || this.bulk !== undefined) {
      throw new RangeError("useSlots was already called");
    }
    checkSlotLayout(iovaBase, stride, this.size);
    this.enterSlotMode();
  }

  /** addSlots/pollSlots' entry check: not broken, useSlots called. Returns the layout. */
  protected bulkLayout(call: string): SlotLayout {
    if (this.error) throw this.error;
    const bulk = this.bulk;
    if (bulk === undefined) throw new RangeError(`${call} needs useSlots first`);
    return bulk;
  }

  /** Why addSlots refused slot `s` of `len` bytes (its one combined test failed). */
  protected slotFault(s: number, len: number, stride: number): string {
    return s < this.size && this.buffers.mark[s] === 0
      ? `slot ${s}: length ${len} exceeds the ${stride}-byte slot`
      : `slot ${s} is out of range or already in flight`;
  }

  /** Un-marks the first `k` slots of a failed addSlots. */
  protected undoSlots(slots: Uint32Array, from: number, k: number): void {
    for (let j = 0, i = from; j < k; j++, i = i + 1 === slots.length ? 0 : i + 1) {
      this.buffers.mark[slots[i]!] = 0;
    }
  }

  /** The IN_ORDER bulk path's scratch, made on first use. */
  protected get inOrderSlots(): InOrderSlots {
    return this.#inOrderScratch ??= new InOrderSlots(this.size);
  }
}
