/**
 * The fast path for packet I/O: N fixed-size buffers ("slots") in one DMA region, each slot
 * posted as a single descriptor whose token is its slot number. No allocation per packet:
 * slot views are made once, and free slots live in a typed-array stack.
 *
 * @example
 * ```ts
 * import { BufferSlots, SlotPoster } from "./slots.ts";
 * import { createVirtqueue } from "./virtqueue.ts";
 * import { FakeDma } from "../../testing/fake_dma.ts";
 *
 * const dma = new FakeDma();
 * const queue = createVirtqueue({ dma, size: 256, format: "split", notify: () => {} });
 * const slots = new BufferSlots(dma, 256, 2048);
 * const tx = new SlotPoster(queue, slots);
 * const frame = new Uint8Array(60);
 * const s = slots.take(); // -1 when none is free
 * slots.bytes(s).set(frame);
 * tx.postTx(s, frame.length);
 * tx.kick();
 * const doneSlots = new Uint32Array(32), doneLens = new Uint32Array(32);
 * const n = tx.pollUsed(doneSlots, doneLens); // then slots.give(doneSlots[i]) for i < n
 * ```
 *
 * @module
 */

import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { RingQueue } from "./types.ts";

export class BufferSlots {
  readonly region: DmaRegion;
  readonly #views: Uint8Array[];
  readonly #free: Uint32Array;
  #freeCount: number;

  constructor(dma: DmaAllocator, readonly count: number, readonly slotSize: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`slot count ${count}`);
    if (!Number.isInteger(slotSize) || slotSize < 1 || slotSize > 0xffff_ffff) {
      throw new RangeError(`slot size ${slotSize}`);
    }
    this.region = dma.alloc(count * slotSize, 4096);
    this.#views = [];
    for (let i = 0; i < count; i++) {
      this.#views.push(this.region.bytes.subarray(i * slotSize, (i + 1) * slotSize));
    }
    this.#free = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.#free[i] = count - 1 - i; // take() yields 0, 1, …
    this.#freeCount = count;
  }

  /** Device address of a slot. */
  iova(slot: number): number {
    return this.region.iova + slot * this.slotSize;
  }

  /** CPU view of a slot (made once, shared). */
  bytes(slot: number): Uint8Array {
    const v = this.#views[slot];
    if (!v) throw new RangeError(`slot ${slot} outside 0 … ${this.count - 1}`);
    return v;
  }

  /** A free slot, or -1 when all are taken. */
  take(): number {
    return this.#freeCount === 0 ? -1 : this.#free[--this.#freeCount]!;
  }

  /** Returns a slot taken with take(). */
  give(slot: number): void {
    if (this.#freeCount === this.count) throw new RangeError("more slots given back than taken");
    this.#free[this.#freeCount++] = slot;
  }

  get free(): number {
    return this.#freeCount;
  }
}

/**
 * Posts whole slots to a virtqueue one by one (addOne, token = slot): postTx/postRx, then kick
 * once per batch. The bulk slot mode (Virtqueue.useSlots/addSlots) is what lib/net's
 * packet queues (SlotQueue there) use instead.
 */
export class SlotPoster {
  constructor(readonly queue: RingQueue, readonly slots: BufferSlots) {}

  /** Makes `len` bytes of `slot` available for the device to read. False if the ring is full. */
  postTx(slot: number, len: number): boolean {
    this.#check(slot);
    if (len > this.slots.slotSize) throw new RangeError(`len ${len} exceeds slot size`);
    return this.queue.addOne(this.slots.iova(slot), len, false, slot);
  }

  /** Makes the whole of `slot` available for the device to write. False if the ring is full. */
  postRx(slot: number): boolean {
    this.#check(slot);
    return this.queue.addOne(this.slots.iova(slot), this.slots.slotSize, true, slot);
  }

  kick(): boolean {
    return this.queue.kick();
  }

  /** Completed slots and the lengths the device wrote; lengths are already validated. */
  pollUsed(outSlots: Uint32Array, outLens: Uint32Array): number {
    return this.queue.pollUsed(outSlots, outLens);
  }

  #check(slot: number): void {
    if (!(slot >= 0 && slot < this.slots.count && Number.isInteger(slot))) {
      throw new RangeError(`slot ${slot} outside 0 … ${this.slots.count - 1}`);
    }
  }
}
