/**
 * Virtqueues, driver side: split (VIRTIO 1.2 §2.7) and packed (§2.8) behind one interface,
 * plus fixed-size buffer slots for packet I/O.
 *
 * @module
 */

export {
  checkQueueOptions,
  createVirtqueue,
  type QueueStats,
  type RingFormat,
  type Segment,
  type Virtqueue,
  type VirtqueueOptions,
} from "./virtqueue.ts";
export { BufferSlots, SlotQueue } from "./slots.ts";
export { SplitQueue } from "./split.ts";
export { PackedQueue } from "./packed.ts";
