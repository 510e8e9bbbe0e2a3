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

/** What both packet queues share: one DMA region cut into fixed slots, one per descriptor. */
export abstract class SlotQueue {
  /** The DMA region holding every slot. */
  readonly region: DmaRegion;
  /** A view of each slot's frame area (behind the header), made once. */
  readonly frames: Uint8Array[];
  /** Largest frame a slot holds: `slotSize - headerSize`. */
  readonly frameCapacity: number;
  /** Scratch array for tokens returned by the virtqueue. */
  protected readonly tokens: Uint32Array;
  /** Scratch array for used lengths returned by the virtqueue. */
  protected readonly lens: Uint32Array;

  /** Allocates `queue.size` slots of `slotSize` bytes, each starting with a `headerSize`-byte virtio-net header. */
  constructor(
    readonly queue: Virtqueue,
    dma: DmaAllocator,
    readonly headerSize: number,
    readonly slotSize: number,
  ) {
    this.region = dma.alloc(queue.size * slotSize, 4096);
    this.frameCapacity = slotSize - headerSize;
    this.frames = Array.from(
      { length: queue.size },
      (_, i) => this.region.bytes.subarray(i * slotSize + headerSize, (i + 1) * slotSize),
    );
    this.tokens = new Uint32Array(queue.size);
    this.lens = new Uint32Array(queue.size);
  }

  /** Device address of slot `slot`. */
  protected slotIova(slot: number): number {
    return this.region.iova + slot * this.slotSize;
  }
}

/** Transmit: take a free slot, write a frame into `frames[slot]`, `send`, then `flush`. */
export class TxQueue extends SlotQueue {
  readonly #free: Uint16Array;
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
    super(queue, dma, headerSize, slotSize);
    this.#free = new Uint16Array(queue.size);
    for (let i = 0; i < queue.size; i++) this.#free[i] = queue.size - 1 - i;
    this.#freeCount = queue.size;
  }

  /** Slots free right now (after the last reclaim). */
  get freeSlots(): number {
    return this.#freeCount;
  }

  /** A free slot index, or -1 when every slot is in flight (call reclaim). */
  nextSlot(): number {
    return this.#freeCount > 0 ? this.#free[--this.#freeCount]! : -1;
  }

  /** Hands slot `slot` with a `frameLength`-byte frame to the device (published by flush). */
  send(slot: number, frameLength: number): void {
    if (frameLength > this.frameCapacity) {
      throw new RangeError(
        `frame of ${frameLength} bytes exceeds the ${this.frameCapacity}-byte slot`,
      );
    }
    const len = this.headerSize + frameLength;
    // Slot i is descriptor i (Virtqueue.addSlot): a free slot always has its descriptor free.
    this.queue.addSlot(slot, this.slotIova(slot), len, false);
    this.packets++;
    this.bytes += frameLength;
  }

  /** Publishes what was sent since the last flush; notifies only if the device asks. */
  flush(): boolean {
    return this.queue.kick();
  }

  /** Takes back slots the device finished with. Returns how many. */
  reclaim(): number {
    if (this.queue.inFlight === 0) return 0;
    const n = this.queue.pollUsed(this.tokens, this.lens);
    for (let i = 0; i < n; i++) this.#free[this.#freeCount++] = this.tokens[i]!;
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

  /** A receive queue over `queue`; call `fill` to post its slots. */
  constructor(
    queue: Virtqueue,
    dma: DmaAllocator,
    headerSize: number,
    options: { slotSize?: number; mergeable?: boolean } = {},
  ) {
    super(queue, dma, headerSize, options.slotSize ?? DEFAULT_SLOT_SIZE);
    this.frameLengths = new Uint32Array(queue.size);
    this.#mergeable = options.mergeable ?? false;
  }

  /** Posts every slot (at start). */
  fill(): void {
    for (let slot = 0; slot < this.queue.size; slot++) this.recycle(slot);
    this.flush();
  }

  /** Makes `slot` available to the device again (published by flush). */
  recycle(slot: number): void {
    this.queue.addSlot(slot, this.slotIova(slot), this.slotSize, true);
  }

  /** Publishes recycled slots and notifies the device unless suppressed; returns whether it notified. */
  flush(): boolean {
    return this.queue.kick();
  }

  /**
   * Collects received frames into `out` (slot numbers); their lengths are in
   * `frameLengths[slot]`, the bytes in `frames[slot]`. The queue has already checked that
   * the used length fits the slot; here we check it covers the header (§5.1.6.4).
   */
  poll(out: Uint32Array): number {
    const n = this.queue.pollUsed(out, this.lens);
    for (let i = 0; i < n; i++) {
      const slot = out[i]!;
      const len = this.lens[i]!;
      if (len < this.headerSize) {
        throw new DeviceError(
          `rx: device wrote ${len} bytes, less than the ${this.headerSize}-byte virtio-net header`,
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
      const frameLength = len - this.headerSize;
      this.frameLengths[slot] = frameLength;
      this.packets++;
      this.bytes += frameLength;
    }
    return n;
  }
}
