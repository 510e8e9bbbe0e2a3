/**
 * The driver's private copy of queue state (the "shadow"): what it made available, for whom,
 * and how much the device may write. It lives in ordinary memory the device cannot reach, so
 * a device scribbling on the rings can never change what the driver believes it wrote.
 *
 * @module
 */

import { DeviceError } from "../errors.ts";
import type { Segment } from "./types.ts";

/** Largest value a descriptor's le32 len can hold. */
export const MAX_SEGMENT_LEN = 0xffff_ffff;
/** Largest address the Number-based DmaRegion seam can carry exactly. */
const MAX_IOVA = Number.MAX_SAFE_INTEGER;

/**
 * Per-buffer-id bookkeeping plus an id FIFO. Split: ids are descriptor-table indices (the
 * head of each chain); packed: ids are buffer ids (§2.8.4), independent of ring slots.
 */
export class BufferStates {
  /** Caller tokens by id. */
  readonly token: Uint32Array;
  /** Bytes the device may write into the buffer (sum of its device-writable segments). */
  readonly writable: Float64Array;
  /** Descriptors the buffer occupies (split: chain length; packed: ring slots). */
  readonly descCount: Uint16Array;
  /**
   * 0 while the id is free; while its buffer is in flight (made available, not yet
   * collected), that buffer's sequence number (≥ 1: the n-th made available). One array for
   * both facts, so the hot paths store and load once per buffer.
   */
  readonly mark: Float64Array;
  /** Ids in the order they were made available — what IN_ORDER completion follows. */
  readonly order: Uint16Array;
  orderHead = 0;
  orderCount = 0;
  /** Buffers in flight. */
  count = 0;
  /** Sequence number the next buffer gets (from 1). kick() publishes everything below it. */
  nextSeq = 1;

  /** `trackOrder` only with IN_ORDER: there completions never leave holes in `order`. */
  constructor(readonly size: number, readonly trackOrder: boolean) {
    this.token = new Uint32Array(size);
    this.writable = new Float64Array(size);
    this.descCount = new Uint16Array(size);
    this.mark = new Float64Array(size);
    this.order = new Uint16Array(size);
  }

  /** Records a buffer made available under `id`. */
  start(id: number, token: number, writable: number, descs: number): void {
    this.token[id] = token;
    this.writable[id] = writable;
    this.descCount[id] = descs;
    this.mark[id] = this.nextSeq++;
    this.count++;
    if (this.trackOrder) {
      this.order[(this.orderHead + this.orderCount) % this.size] = id;
      this.orderCount++;
    }
  }

  /** Marks `id` collected. With trackOrder, `id` must be {@link oldest}. */
  finish(id: number): void {
    this.mark[id] = 0;
    this.count--;
    if (this.trackOrder) {
      this.orderHead = this.orderHead + 1 === this.size ? 0 : this.orderHead + 1;
      this.orderCount--;
    }
  }

  /**
   * Bulk slot mode (Virtqueue.useSlots): id s is always slot s — its own token, one
   * descriptor, `writable` device-writable bytes until a length changes it.
   */
  useSlots(writable: number): void {
    for (let s = 0; s < this.size; s++) {
      this.token[s] = s;
      this.descCount[s] = 1;
      this.writable[s] = writable;
    }
  }

  /** Oldest id in flight (IN_ORDER completes in this order); -1 if none. Needs trackOrder. */
  oldest(): number {
    return this.orderCount === 0 ? -1 : this.order[this.orderHead]!;
  }
}

/** A FIFO of free ids 0 … size−1 (FIFO keeps ring order for IN_ORDER, §2.7.9 / §2.8.8). */
export class IdFifo {
  private readonly ids: Uint16Array;
  private head = 0;
  count: number;
  constructor(readonly size: number) {
    this.ids = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.ids[i] = i;
    this.count = size;
  }
  /** Caller checks `count` first. */
  pop(): number {
    const id = this.ids[this.head]!;
    this.head = this.head + 1 === this.size ? 0 : this.head + 1;
    this.count--;
    return id;
  }
  push(id: number): void {
    let tail = this.head + this.count;
    if (tail >= this.size) tail -= this.size;
    this.ids[tail] = id;
    this.count++;
  }
}

/** Checks a caller's chain; returns the device-writable byte total. Throws RangeError. */
export function checkChain(
  out: readonly Segment[],
  inn: readonly Segment[],
  maxDescs: number,
): number {
  const n = out.length + inn.length;
  if (n === 0) throw new RangeError("a buffer needs at least one segment");
  if (n > maxDescs) throw new RangeError(`chain of ${n} segments exceeds ${maxDescs}`);
  let total = 0;
  for (const s of out) {
    checkSegment(s.iova, s.len);
    total += s.len;
  }
  let writable = 0;
  for (const s of inn) {
    checkSegment(s.iova, s.len);
    writable += s.len;
  }
  // §2.7.5.1: no descriptor chain longer than 2^32 bytes in total.
  if (total + writable > 2 ** 32) throw new RangeError("chain longer than 2^32 bytes");
  return writable;
}

export function checkSegment(iova: number, len: number): void {
  if (!Number.isInteger(iova) || iova < 0 || iova > MAX_IOVA) {
    throw new RangeError(`segment address ${iova} is not a valid iova`);
  }
  if (!Number.isInteger(len) || len < 0 || len > MAX_SEGMENT_LEN) {
    throw new RangeError(`segment length ${len} outside 0 … 2^32-1`);
  }
}

/** Where a queue in bulk slot mode finds slot s: `base + s * stride`, device-writable or not. */
export interface SlotLayout {
  readonly base: number;
  readonly stride: number;
  readonly deviceWritable: boolean;
}

/** Checks a bulk slot layout (useSlots): `size` slots of `stride` bytes from `iovaBase`. */
export function checkSlotLayout(iovaBase: number, stride: number, size: number): void {
  if (!Number.isInteger(stride) || stride < 1 || stride > MAX_SEGMENT_LEN) {
    throw new RangeError(`slot stride ${stride} outside 1 … 2^32-1`);
  }
  checkSegment(iovaBase, 0);
  checkSegment(iovaBase + (size - 1) * stride, stride);
}

export function checkToken(token: number): void {
  if (token >>> 0 !== token) throw new RangeError(`token ${token} is not a u32`);
}

/** Splits a Number iova into the two little-endian 32-bit words of a le64 address. */
export function iovaLow(iova: number): number {
  return iova >>> 0;
}
export function iovaHigh(iova: number): number {
  return Math.floor(iova / 0x1_0000_0000) >>> 0;
}

/** Builds the error a broken queue throws, naming the queue and the violation. */
export function deviceViolation(what: string, format: string, size: number): DeviceError {
  return new DeviceError(`virtqueue (${format}, size ${size}) broken: ${what}`, {
    hint: "the device wrote something the VIRTIO spec forbids; reset the device to recover",
  });
}
