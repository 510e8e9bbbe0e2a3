/**
 * virtio-blk driver (VIRTIO 1.2 §5.2) over a {@link Transport} and a {@link DmaAllocator}:
 * negotiates features, reads and validates the config (§5.2.4), sets up `queues` request
 * queues (§5.2.2; more than one needs VIRTIO_BLK_F_MQ) in either ring format.
 * @module
 */
import { VirtioError } from "../errors.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import type { RingFormat } from "../queue/virtqueue.ts";
import { setupPollQueue } from "../queue/setup.ts";
import {
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_RING_PACKED,
} from "../virtio/constants.ts";
import {
  hasFeature,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from "../virtio/features.ts";
import { type FeatureDecision, initializeDevice } from "../virtio/initialize.ts";
import type { Transport } from "../virtio/transport.ts";
import { BLK_CONFIG } from "../virtio/config/blk.ts";
import { BLK_DEVICE_FEATURES, type BlkLimits, blkLimits, type BlkRawConfig } from "./protocol.ts";
import { BlkRequestQueue } from "./request_queue.ts";

const bit = (n: bigint) => 1n << n;

/** How to open a virtio-blk device. */
export interface VirtioBlkOptions {
  /** Request queues to set up (default 1). */
  readonly queues?: number;
  /** Requests in flight per queue (default 32); each takes ≥ 3 descriptors. */
  readonly depth?: number;
  /** Ring format: packed, split, or auto (packed when offered). */
  readonly format?: RingFormat | "auto";
  /** Largest data segments per request the caller will use (default 1). */
  readonly segments?: number;
}

/** A virtio-blk device taken over by this process. */
export class VirtioBlk {
  private constructor(
    readonly transport: Transport,
    readonly decision: FeatureDecision,
    readonly limits: BlkLimits,
    readonly queues: readonly BlkRequestQueue[],
    readonly format: RingFormat,
  ) {}

  /** Negotiates, validates the config and sets up the request queues (§3.1.1, §5.2.5). */
  static open(transport: Transport, dma: DmaAllocator, o: VirtioBlkOptions = {}): VirtioBlk {
    if (transport.deviceType !== 2) {
      throw new VirtioError(`not a block device (virtio type ${transport.deviceType})`);
    }
    const want = o.queues ?? 1;
    const depth = o.depth ?? 32;
    const segments = o.segments ?? 1;
    const wanted = BLK_DEVICE_FEATURES | bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_F_EVENT_IDX) |
      bit(VIRTIO_F_ACCESS_PLATFORM);
    let required = 0n, refused = 0n;
    if (o.format === "packed") required |= bit(VIRTIO_F_RING_PACKED);
    if (o.format === "split") refused |= bit(VIRTIO_F_RING_PACKED);
    if (want > 1) required |= bit(VIRTIO_BLK_F_MQ);
    const { decision, value } = initializeDevice(transport, { required, wanted, refused }, (d) => {
      const f = d.accepted;
      const format: RingFormat = hasFeature(f, VIRTIO_F_RING_PACKED) ? "packed" : "split";
      const raw: BlkRawConfig = transport.deviceConfig.consistent((c) => ({
        capacitySectors: c.read64(BLK_CONFIG.capacity),
        sizeMax: c.read32(BLK_CONFIG.size_max),
        segMax: c.read32(BLK_CONFIG.seg_max),
        blkSize: c.read32(BLK_CONFIG.blk_size),
        numQueues: hasFeature(f, VIRTIO_BLK_F_MQ) ? c.read16(BLK_CONFIG.num_queues) : 1,
        ...(hasFeature(f, VIRTIO_BLK_F_DISCARD)
          ? {
            discard: {
              maxSectors: c.read32(BLK_CONFIG.max_discard_sectors),
              maxSegments: c.read32(BLK_CONFIG.max_discard_seg),
              alignment: c.read32(BLK_CONFIG.discard_sector_alignment),
            },
          }
          : {}),
        ...(hasFeature(f, VIRTIO_BLK_F_WRITE_ZEROES)
          ? {
            writeZeroes: {
              maxSectors: c.read32(BLK_CONFIG.max_write_zeroes_sectors),
              maxSegments: c.read32(BLK_CONFIG.max_write_zeroes_seg),
              mayUnmap: c.read8(BLK_CONFIG.write_zeroes_may_unmap),
            },
          }
          : {}),
      }));
      const limits = blkLimits(f, raw);
      if (want > limits.numQueues) {
        throw new VirtioError(`${want} queues asked, the device has ${limits.numQueues}`);
      }
      if (limits.segMax !== undefined && segments > limits.segMax) {
        throw new VirtioError(`${segments} segments per request above seg_max ${limits.segMax}`);
      }
      const queues: BlkRequestQueue[] = [];
      const eventIdx = hasFeature(f, VIRTIO_F_EVENT_IDX);
      for (let i = 0; i < want; i++) {
        const q = setupPollQueue(transport, dma, i, { format, eventIdx });
        const size = q.size;
        // Each request is a chain of header + data segments + status (§5.2.6).
        const perQueue = Math.min(depth, Math.floor(size / (segments + 2)));
        if (perQueue < 1) throw new VirtioError(`queue ${i} of ${size} is too small`);
        queues.push(new BlkRequestQueue(q, dma, limits, perQueue));
      }
      return { limits, queues, format };
    });
    return new VirtioBlk(transport, decision, value.limits, value.queues, value.format);
  }

  /** Features accepted in negotiation. */
  get features(): bigint {
    return this.decision.accepted;
  }
}
