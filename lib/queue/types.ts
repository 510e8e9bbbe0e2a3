/**
 * The virtqueue interfaces (VIRTIO 1.2 §2.6–§2.8), driver side: what a queue is fed with, how it
 * is built, what it counts. No code: the queue files and their users import these, and
 * `virtqueue.ts` (the factory) re-exports them.
 *
 * Tokens: each buffer carries a caller-chosen integer token (0 … 2^32−1, e.g. a slot number)
 * that {@link RingQueue.pollUsed} hands back with the used length.
 *
 * @module
 */

import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { QueueAddresses } from "../virtio/transport.ts";

/** One piece of a buffer in device address space. */
export interface Segment {
  /** Device address of the first byte. */
  readonly iova: number;
  /** Length in bytes. */
  readonly len: number;
}

/** Virtqueue layout: split (§2.7) or packed (§2.8). */
export type RingFormat = "split" | "packed";

/** How `createVirtqueue` builds a queue: memory, size, format and negotiated ring features. */
export interface VirtqueueOptions {
  /** Where the rings (and indirect tables) are allocated. */
  readonly dma: DmaAllocator;
  /** Number of entries. Split: a power of two; both: 1 … 32768 (§2.6, §2.7, §2.8). */
  readonly size: number;
  /** VIRTIO_F_RING_PACKED negotiated → "packed". */
  readonly format: RingFormat;
  /** VIRTIO_F_EVENT_IDX (bit 29) negotiated. */
  readonly eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC (bit 28) negotiated: {@link RingQueue.addBuffer} may use tables. */
  readonly indirect?: boolean;
  /** Descriptors per indirect table (default 16); tables are pre-allocated, one per id. */
  readonly maxIndirect?: number;
  /** VIRTIO_F_IN_ORDER (bit 35) negotiated: the device may complete a batch with one entry. */
  readonly inOrder?: boolean;
  /** Legacy transport (§2.7.2): one region, used ring on a 4096 boundary. Split only. */
  readonly legacyLayout?: boolean;
  /**
   * Kicks the device (§4.1.4.4). `value` is the NOTIFICATION_DATA payload without the queue
   * number: split — the next available index (16 bits); packed — next offset | wrap << 15.
   * The transport adds the queue index and decides whether to use it.
   */
  readonly notify: (value: number) => void;
}

/** Counters a benchmark or test can read; plain numbers, updated in place. */
export interface QueueStats {
  /** Buffers made available. */
  added: number;
  /** Buffers returned by pollUsed. */
  completed: number;
  /** kick() calls that published something. */
  publishes: number;
  /** Times notify() was actually called. */
  notifications: number;
}

/**
 * The add/kick/poll core of one virtqueue (split or packed), driver side: buffers one by one
 * (addOne, addBuffer), kick, pollUsed. What the control queue and the disk driver use.
 */
export interface RingQueue {
  /** Ring format. */
  readonly format: RingFormat;
  /** Number of entries. */
  readonly size: number;
  /** For the transport (§4.1.4.3 queue_desc / queue_driver / queue_device). */
  readonly addresses: QueueAddresses;
  /** The ring memory (tests and the simulated device look at it). */
  readonly region: DmaRegion;
  /** True once the device broke the contract; every call then throws. */
  readonly broken: boolean;
  /** Descriptors (split: table entries; packed: ring slots) free right now. */
  readonly freeDescriptors: number;
  /** Buffers made available and not yet returned by pollUsed. */
  readonly inFlight: number;
  /** Counters, updated in place. */
  readonly stats: QueueStats;

  /**
   * Adds one buffer of a single descriptor — the fast path for fixed-size slots.
   * Returns false (and does nothing) when no descriptor is free.
   */
  addOne(iova: number, len: number, deviceWritable: boolean, token: number): boolean;

  /**
   * Adds a chain: `out` segments (device reads) then `inn` segments (device writes), §2.7.5 /
   * §2.8.6. With `useIndirect` (needs INDIRECT_DESC) the chain goes into an indirect table and
   * takes one descriptor (§2.7.5.3, §2.8.7). Returns false when not enough are free.
   * Throws RangeError on caller mistakes (empty chain, too long, bad lengths).
   */
  addBuffer(
    out: readonly Segment[],
    inn: readonly Segment[],
    token: number,
    useIndirect?: boolean,
  ): boolean;

  /**
   * Publishes everything added since the last kick (one index/flags store per batch) and
   * notifies the device unless it suppressed notifications (§2.7.10, §2.8.10).
   * Returns whether notify() was called.
   */
  kick(): boolean;

  /**
   * Collects up to `min(outTokens.length, outLens.length)` used buffers, validated.
   * Returns how many were written to the output arrays.
   */
  pollUsed(outTokens: Uint32Array, outLens: Uint32Array): number;

  /** True when the device has published a used buffer that pollUsed has not collected. */
  hasUsed(): boolean;

  /** Asks the device not to send used-buffer notifications (interrupts) — poll mode. */
  disableInterrupts(): void;
  /**
   * Asks for a notification on the next used buffer. Returns true if one is already there
   * (poll again before sleeping: the device may have completed before it saw the request).
   */
  enableInterrupts(): boolean;
}

/**
 * A virtqueue: the {@link RingQueue} core plus the fixed-slot feeding the packet queues use
 * (addSlot, or useSlots once then addSlots/pollSlots). A queue is fed one way for its whole
 * life: one by one through the core, or by slots.
 */
export interface Virtqueue extends RingQueue {
  /**
   * The fixed-slot fast path: buffer `slot` is always descriptor `slot` (and its token), one
   * descriptor each, and only what changed since that descriptor's last use is rewritten.
   * A queue fed this way takes no addOne/addBuffer. Throws RangeError if `slot` is out of
   * range or already in flight.
   */
  addSlot(slot: number, iova: number, len: number, deviceWritable: boolean): void;

  /**
   * Bulk fixed-slot mode, the packet fast path: slot s is descriptor s (split) / buffer id s
   * (packed) at `iovaBase + s * stride`, device-writable or not, for the queue's whole life.
   * Call once, before any buffer is added; then feed the queue with {@link addSlots} (or
   * {@link addSlot} with the same addresses) and collect with {@link pollSlots} or pollUsed
   * (token = slot). Throws RangeError for a bad address or stride, or a queue already in use.
   */
  useSlots(iovaBase: number, stride: number, deviceWritable: boolean): void;

  /**
   * Makes `count` slots available — `slots[(from + k) % slots.length]` for k < count, slot s
   * with `lens[s]` bytes (at most the stride) — published by the next kick. Per slot only the
   * ring entries that changed are written. Throws RangeError (and adds none of the slots
   * whose check failed or that follow it) for a slot out of range or already in flight.
   */
  addSlots(slots: Uint32Array, from: number, count: number, lens: Uint32Array): void;

  /**
   * Collects up to `max` used slots, validated like pollUsed, into
   * `slots[(at + k) % slots.length]` in completion order, and each one's used length into
   * `usedLens[slot]` when given. Returns how many. The used length of a device-readable
   * slot (transmit) is read and checked only when `usedLens` is given: nothing else uses it.
   */
  pollSlots(slots: Uint32Array, at: number, max: number, usedLens?: Uint32Array): number;
}
