/**
 * Fixed-slot packet queues over a virtqueue: the fast path of the virtio-net driver.
 *
 * Each queue owns one DMA region cut into `size` slots of `slotSize` bytes; slot i is
 * always buffer i, so nothing is allocated per packet. Every slot starts with the
 * virtio-net header (§5.1.6), which is zeroed once (no offloads asked) and never rewritten
 * on transmit: the frame goes right behind it.
 *
 * @module
 */
import { DeviceError } from "../errors.ts";
import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { Virtqueue } from "../queue/virtqueue.ts";

/** Default slot size in bytes: header plus frame. */
export const DEFAULT_SLOT_SIZE = 2048;

/**
 * What both packet queues share: one DMA region cut into fixed slots, one per descriptor,
 * handed to the virtqueue's bulk slot mode (Virtqueue.useSlots): slot s is always buffer s
 * at `region.iova + s * slotSize`, so per packet only what changed reaches the ring.
 */
export abstract class SlotQueue {
  /** The DMA region holding every slot. */
  readonly region: DmaRegion;
  /** A view of each slot's frame area (behind the header), made once. */
  readonly frames: Uint8Array[];
  /** The whole region as 16-bit words (frames start at even offsets: slot * slotSize + header). */
  readonly words: Uint16Array;
  /** Largest frame a slot holds: `slotSize - headerSize`. */
  readonly frameCapacity: number;
  /** Buffer length (header + frame) of each slot as last given to the device. */
  protected readonly lens: Uint32Array;
  /** Slots given to the device since the last flush, in order. */
  protected readonly pending: Uint32Array;
  /** How many of `pending` are in use. */
  protected pendingCount = 0;

  /** Allocates `queue.size` slots of `slotSize` bytes, each starting with a `headerSize`-byte virtio-net header. */
  constructor(
    readonly queue: Virtqueue,
    dma: DmaAllocator,
    readonly headerSize: number,
    readonly slotSize: number,
    deviceWritable: boolean,
  ) {
    this.region = dma.alloc(queue.size * slotSize, 4096);
    this.frameCapacity = slotSize - headerSize;
    this.frames = Array.from(
      { length: queue.size },
      (_, i) => this.region.bytes.subarray(i * slotSize + headerSize, (i + 1) * slotSize),
    );
    const b = this.region.bytes;
    this.words = new Uint16Array(b.buffer, b.byteOffset, b.length >>> 1);
    this.lens = new Uint32Array(queue.size);
    this.pending = new Uint32Array(queue.size);
    queue.useSlots(this.region.iova, slotSize, deviceWritable);
  }

  /** Queues `slot` for the next flush. */
  protected stage(slot: number): void {
    if (this.pendingCount === this.pending.length) {
      throw new RangeError(`slot ${slot}: more slots staged than the queue holds`);
    }
    this.pending[this.pendingCount++] = slot;
  }

  /**
   * Makes the staged slots available and notifies the device only if it asks (§2.7.10,
   * §2.8.10). Returns whether it notified.
   */
  flush(): boolean {
    const n = this.pendingCount;
    if (n > 0) {
      this.pendingCount = 0;
      this.queue.addSlots(this.pending, 0, n, this.lens);
    }
    return this.queue.kick();
  }
}

/** Transmit: take a free slot, write a frame into `frames[slot]`, `send`, then `flush`. */
export class TxQueue extends SlotQueue {
  /** Free slots, oldest first: a ring of `size` entries from `#head`. */
  readonly #free: Uint32Array;
  #head = 0;
  #freeCount: number;
  /** Frames sent. */
  packets = 0;
  /** Frame bytes sent (without the header). */
  bytes = 0;

  /** A transmit queue over `queue` with every slot free. */
  constructor(
    queue: Virtqueue,
    dma: DmaAllocator,
    headerSize: number,
    slotSize = DEFAULT_SLOT_SIZE,
  ) {
    super(queue, dma, headerSize, slotSize, false);
    this.#free = new Uint32Array(queue.size);
    for (let i = 0; i < queue.size; i++) this.#free[i] = i;
    this.#freeCount = queue.size;
  }

  /** Slots free right now (after the last reclaim). */
  get freeSlots(): number {
    return this.#freeCount;
  }

  /**
   * A free slot index, or -1 when every slot is in flight (call reclaim). Slots come back in
   * the order the device finished them, so with a device that completes in order they go out
   * in ring order and each descriptor is reused as it was.
   */
  nextSlot(): number {
    if (this.#freeCount === 0) return -1;
    const slot = this.#free[this.#head]!;
    if (++this.#head === this.#free.length) this.#head = 0;
    this.#freeCount--;
    return slot;
  }

  /**
   * The batch fast path: takes `n` (≤ freeSlots) free slots at once. They are
   * `freeRing[(first + k) % freeRing.length]` for k < n, where `first` is the return value;
   * write each frame, set `lengths[slot]` (header + frame), then {@link sendTaken}(first, n).
   */
  take(n: number): number {
    if (!(n >= 0 && n <= this.#freeCount)) {
      throw new RangeError(`take ${n}: only ${this.#freeCount} slots are free`);
    }
    const first = this.#head;
    this.#head += n;
    if (this.#head >= this.#free.length) this.#head -= this.#free.length;
    this.#freeCount -= n;
    return first;
  }

  /** The free-slot ring that {@link take} hands out from. */
  get freeRing(): Uint32Array {
    return this.#free;
  }

  /** Buffer length (header + frame) per slot, for the batch fast path. */
  get lengths(): Uint32Array {
    return this.lens;
  }

  /**
   * Makes the `n` slots from {@link take} available (no staging copy) with `bytes` frame
   * bytes in all, after any slots staged by send. Publish with flush.
   */
  sendTaken(first: number, n: number, bytes: number): void {
    if (this.pendingCount > 0) {
      this.queue.addSlots(this.pending, 0, this.pendingCount, this.lens);
      this.pendingCount = 0;
    }
    this.queue.addSlots(this.#free, first, n, this.lens);
    this.packets += n;
    this.bytes += bytes;
  }

  /** Hands slot `slot` with a `frameLength`-byte frame to the device (published by flush). */
  send(slot: number, frameLength: number): void {
    if (!(frameLength <= this.frameCapacity)) {
      throw new RangeError(
        `frame of ${frameLength} bytes exceeds the ${this.frameCapacity}-byte slot`,
      );
    }
    this.lens[slot] = this.headerSize + frameLength;
    this.stage(slot);
    this.packets++;
    this.bytes += frameLength;
  }

  /** Takes back slots the device finished with. Returns how many. */
  reclaim(): number {
    const size = this.#free.length;
    const room = size - this.#freeCount;
    if (room === 0) return 0;
    let tail = this.#head + this.#freeCount;
    if (tail >= size) tail -= size;
    const n = this.queue.pollSlots(this.#free, tail, room);
    this.#freeCount += n;
    return n;
  }
}

/** Receive: `poll` returns slots with frames; `recycle` gives slots back; `flush` publishes. */
export class RxQueue extends SlotQueue {
  /** Frame length of each slot as last received (without the header). */
  readonly frameLengths: Uint32Array;
  /** Frames received. */
  packets = 0;
  /** Frame bytes received (without the header). */
  bytes = 0;
  readonly #mergeable: boolean;
  /** {@link refill} publishes once at least this many slots are staged. */
  readonly refillBatch: number;

  /**
   * A receive queue over `queue`; call `fill` to post its slots. `refillBatch` (default an
   * eighth of the ring: 32 of 256) is how many recycled slots {@link refill} gathers before it
   * publishes. Larger batches publish less often but leave the device fewer buffers: in the
   * lab a quarter (64) held back made QEMU run dry and ask for a kick at two of three refills
   * on a busy host (bench/README.md).
   */
  constructor(
    queue: Virtqueue,
    dma: DmaAllocator,
    headerSize: number,
    options: { slotSize?: number; mergeable?: boolean; refillBatch?: number } = {},
  ) {
    super(queue, dma, headerSize, options.slotSize ?? DEFAULT_SLOT_SIZE, true);
    this.frameLengths = new Uint32Array(queue.size);
    this.lens.fill(this.slotSize);
    this.#mergeable = options.mergeable ?? false;
    const batch = options.refillBatch ?? Math.max(1, queue.size >>> 3);
    if (!(Number.isInteger(batch) && batch >= 1 && batch <= queue.size)) {
      throw new RangeError(`refillBatch ${batch}: 1..${queue.size}`);
    }
    this.refillBatch = batch;
  }

  /**
   * The poll loop's refill: publishes the recycled slots (one avail index / flags store, at
   * most one notification, §2.7.13 / §2.8.21) only once {@link refillBatch} of them are
   * staged, so the device sees a few large refills instead of one per poll. This cannot
   * starve the device: a slot is either posted, used and not yet polled, or staged, so a
   * device with nothing posted leaves every slot to poll and stage, and the batch fills.
   * Returns whether it notified.
   */
  refill(): boolean {
    return this.pendingCount >= this.refillBatch ? this.flush() : false;
  }

  /** Posts every slot (at start). */
  fill(): void {
    for (let slot = 0; slot < this.queue.size; slot++) this.recycle(slot);
    this.flush();
  }

  /** Makes `slot` available to the device again (published by flush). */
  recycle(slot: number): void {
    this.stage(slot);
  }

  /**
   * Collects received frames into `out` (slot numbers); their lengths are in
   * `frameLengths[slot]`, the bytes in `frames[slot]`. The queue has already checked that
   * the used length fits the slot; here we check it covers the header (§5.1.6.4).
   */
  poll(out: Uint32Array): number {
    const n = this.queue.pollSlots(out, 0, out.length, this.frameLengths);
    const hdr = this.headerSize, lengths = this.frameLengths;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const slot = out[i]!;
      const len = lengths[slot]!;
      if (len < hdr) {
        throw new DeviceError(
          `rx: device wrote ${len} bytes, less than the ${hdr}-byte virtio-net header`,
        );
      }
      if (this.#mergeable) {
        // §5.1.6.4.2: num_buffers (le16 at offset 10) says how many buffers the packet spans;
        // our slots hold a whole frame, so anything but 1 is a device fault.
        const base = slot * this.slotSize + 10;
        const b = this.region.bytes;
        const numBuffers = b[base]! | (b[base + 1]! << 8);
        if (numBuffers !== 1) {
          throw new DeviceError(`rx: num_buffers ${numBuffers} for a frame that fits one buffer`);
        }
      }
      lengths[slot] = len - hdr;
      bytes += len - hdr;
    }
    this.packets += n;
    this.bytes += bytes;
    return n;
  }
}
