/**
 * One interface for split (VIRTIO 1.2 §2.7) and packed (§2.8) virtqueues, the driver side.
 *
 * The queue never sees a transport: it lays out its rings in memory from a
 * `DmaAllocator`, exposes their `QueueAddresses` for the transport to program,
 * and calls the `notify` function it was given when the device wants a kick.
 *
 * Built for a polling user-space NIC driver: nothing is allocated per buffer, typed-array
 * views on the ring memory are made once, and everything the device writes is validated —
 * a violation marks the queue broken and every later call throws `DeviceError`.
 *
 * The interfaces are in `types.ts`, the bookkeeping both formats share in `core.ts`; this file
 * is the factory, and re-exports the types for the queue's users.
 *
 * @module
 */

import type { Virtqueue, VirtqueueOptions } from "./types.ts";
import { SplitQueue } from "./split.ts";
import { PackedQueue } from "./packed.ts";

export type {
  QueueStats,
  RingFormat,
  RingQueue,
  Segment,
  Virtqueue,
  VirtqueueOptions,
} from "./types.ts";
export { checkQueueOptions } from "./core.ts";

/** Builds a queue of the requested format; its constructor checks the options (§2.6, §2.7). */
export function createVirtqueue(options: VirtqueueOptions): Virtqueue {
  return options.format === "split" ? new SplitQueue(options) : new PackedQueue(options);
}
