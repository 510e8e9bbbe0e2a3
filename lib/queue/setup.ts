/**
 * One queue of a device set up for polling, as the drivers (lib/net, lib/blk) do it during
 * initialisation (VIRTIO 1.2 §3.1.1 step 7, §4.1.5.1.3): read the device's maximum size and
 * check it, choose the size, lay the rings out, program and enable the queue on the transport,
 * and ask the device for no used-buffer notifications (§2.7.10, §2.8.10).
 *
 * @module
 */
import { DeviceError, VirtioError } from "../errors.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import type { Transport } from "../virtio/transport.ts";
import type { RingFormat, Virtqueue } from "./types.ts";
import { createVirtqueue } from "./virtqueue.ts";

/** How {@link setupPollQueue} builds the queue. */
export interface PollQueueOptions {
  /** The negotiated ring format. */
  readonly format: RingFormat;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** Entries wanted (default 256, capped at the device's maximum); legacy sizes are fixed. */
  readonly size?: number;
}

/** Sets up queue `index` of `transport` for polling; throws with the reason it cannot. */
export function setupPollQueue(
  transport: Transport,
  dma: DmaAllocator,
  index: number,
  o: PollQueueOptions,
): Virtqueue {
  const max = transport.queueMaxSize(index);
  if (max === 0) throw new VirtioError(`queue ${index} is not available`);
  if (o.format === "split" && (max & (max - 1)) !== 0) {
    // §2.7: a split queue's size is always a power of 2; a device that offers another
    // maximum breaks the contract, and a device engineer wants to hear it.
    throw new DeviceError(
      `queue ${index}: the device's maximum size ${max} is not a power of two, ` +
        "which split rings require (§2.7)",
    );
  }
  const wanted = o.size;
  if (o.format === "split" && wanted !== undefined && (wanted & (wanted - 1)) !== 0) {
    throw new VirtioError(`queue size ${wanted} is not a power of two (split ring)`);
  }
  // Legacy queues have the device's size (§4.1.4.8); modern ones may be made smaller.
  const legacy = transport.kind === "legacy";
  if (!legacy && wanted !== undefined && wanted > max) {
    throw new VirtioError(`queue size ${wanted} above the device's maximum ${max}`);
  }
  if (legacy && wanted !== undefined && wanted !== max) {
    throw new VirtioError(`legacy device: queue size is fixed at ${max}`);
  }
  const size = legacy ? max : Math.min(wanted ?? 256, max);
  const q = createVirtqueue({
    dma,
    size,
    format: o.format,
    eventIdx: o.eventIdx,
    legacyLayout: legacy,
    notify: transport.notifier(index),
  });
  transport.setupQueue(index, size, q.addresses);
  q.disableInterrupts(); // poll mode
  return q;
}
