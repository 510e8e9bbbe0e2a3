/**
 * A user-space virtio-net driver (VIRTIO 1.2 §5.1) in poll mode: negotiation, receive and
 * transmit queue pairs of fixed-size slots, the control queue when offered, link status.
 *
 * @module
 */
import { VirtioError } from "../errors.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import type { RingFormat, Virtqueue } from "../queue/virtqueue.ts";
import { setupPollQueue } from "../queue/setup.ts";
import {
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from "../virtio/constants.ts";
import {
  hasFeature,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
} from "../virtio/features.ts";
import {
  type FeatureDecision,
  type FeatureRequest,
  initializeDevice,
} from "../virtio/initialize.ts";
import type { Transport } from "../virtio/transport.ts";
import { NET_CONFIG, VIRTIO_NET_S_LINK_UP } from "../virtio/config/net.ts";
import { ControlQueue, CTRL } from "./control.ts";
import { DEFAULT_SLOT_SIZE, RxQueue, TxQueue } from "./packet_queues.ts";

const bit = (n: bigint) => 1n << n;

/** How `VirtioNet.open` sets the device up: queue size and format, pairs, features. */
export interface VirtioNetOptions {
  /** Entries per queue; default min(256, device maximum). Legacy devices fix it. */
  readonly queueSize?: number;
  /** Ring format: "auto" takes packed when offered. */
  readonly format?: RingFormat | "auto";
  /** Use EVENT_IDX when offered (default true). */
  readonly eventIdx?: boolean;
  /** Queue pairs to use (needs MQ and the control queue beyond 1). Default 1. */
  readonly queuePairs?: number;
  /** Negotiate MRG_RXBUF (12-byte header with num_buffers even on legacy). Default false. */
  readonly mergeable?: boolean;
  /** Bytes per packet slot (header plus frame); default DEFAULT_SLOT_SIZE. */
  readonly slotSize?: number;
  /** The device must accept IOVAs through the platform IOMMU (VFIO path). */
  readonly requireAccessPlatform?: boolean;
  /** Extra feature wishes, merged into ours. */
  readonly features?: FeatureRequest;
}

/** One receive/transmit pair (§5.1.2: receiveqN = 2N, transmitqN = 2N+1). */
export interface QueuePair {
  /** The receive queue (receiveqN). */
  readonly rx: RxQueue;
  /** The transmit queue (transmitqN). */
  readonly tx: TxQueue;
}

/** A virtio-net device driven from user space: negotiated features and fixed-slot queue pairs. */
export class VirtioNet {
  private constructor(
    readonly transport: Transport,
    readonly decision: FeatureDecision,
    readonly pairs: readonly QueuePair[],
    readonly control: ControlQueue | undefined,
    readonly headerSize: number,
    readonly format: RingFormat,
    readonly maxQueuePairs: number,
  ) {}

  /** The negotiated (accepted) feature bits. */
  get features(): bigint {
    return this.decision.accepted;
  }

  /** Initialises the device (§3.1.1) and sets up the queues; rx queues are filled. */
  static open(transport: Transport, dma: DmaAllocator, o: VirtioNetOptions = {}): VirtioNet {
    if (transport.deviceType !== 1) {
      throw new VirtioError(`not a network device (virtio type ${transport.deviceType})`);
    }
    const pairsWanted = o.queuePairs ?? 1;
    const wanted = bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MTU) |
      bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_CTRL_RX) | bit(VIRTIO_F_ACCESS_PLATFORM) |
      bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_F_EVENT_IDX) |
      (pairsWanted > 1 ? bit(VIRTIO_NET_F_MQ) : 0n) |
      (o.mergeable ? bit(VIRTIO_NET_F_MRG_RXBUF) : 0n) | (o.features?.wanted ?? 0n);
    let required = o.features?.required ?? 0n;
    let refused = o.features?.refused ?? 0n;
    if (o.format === "packed") required |= bit(VIRTIO_F_RING_PACKED);
    if (o.format === "split") refused |= bit(VIRTIO_F_RING_PACKED);
    if (o.eventIdx === false) refused |= bit(VIRTIO_F_EVENT_IDX);
    if (o.requireAccessPlatform) required |= bit(VIRTIO_F_ACCESS_PLATFORM);
    if (pairsWanted > 1) required |= bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_CTRL_VQ);
    if (o.mergeable) required |= bit(VIRTIO_NET_F_MRG_RXBUF);
    if (
      o.requireAccessPlatform && !hasFeature(transport.deviceFeatures(), VIRTIO_F_ACCESS_PLATFORM)
    ) {
      throw new VirtioError(
        "the device sits behind an IOMMU but does not offer ACCESS_PLATFORM: it would treat " +
          "our IOVAs as physical addresses",
        { hint: "give the QEMU device iommu_platform=on, or use --access sysfs without an IOMMU" },
      );
    }
    const { decision, value } = initializeDevice(
      transport,
      { required, wanted, refused },
      (d) => {
        const f = d.accepted;
        const format: RingFormat = hasFeature(f, VIRTIO_F_RING_PACKED) ? "packed" : "split";
        // §5.1.6.1: the header is 12 bytes with VERSION_1 or MRG_RXBUF, else 10 (legacy).
        const headerSize =
          hasFeature(f, VIRTIO_F_VERSION_1) || hasFeature(f, VIRTIO_NET_F_MRG_RXBUF) ? 12 : 10;
        const maxPairs = hasFeature(f, VIRTIO_NET_F_MQ)
          ? transport.deviceConfig.consistent((c) => c.read16(NET_CONFIG.max_virtqueue_pairs))
          : 1;
        if (pairsWanted > maxPairs) {
          throw new VirtioError(`${pairsWanted} queue pairs asked, the device has ${maxPairs}`);
        }
        const eventIdx = hasFeature(f, VIRTIO_F_EVENT_IDX);
        const makeQueue = (index: number): Virtqueue =>
          setupPollQueue(transport, dma, index, {
            format,
            eventIdx,
            ...(o.queueSize !== undefined ? { size: o.queueSize } : {}),
          });
        const slotSize = o.slotSize ?? DEFAULT_SLOT_SIZE;
        const pairs: QueuePair[] = [];
        for (let p = 0; p < pairsWanted; p++) {
          const rx = new RxQueue(makeQueue(2 * p), dma, headerSize, {
            slotSize,
            mergeable: hasFeature(f, VIRTIO_NET_F_MRG_RXBUF),
          });
          const tx = new TxQueue(makeQueue(2 * p + 1), dma, headerSize, slotSize);
          pairs.push({ rx, tx });
        }
        const control = hasFeature(f, VIRTIO_NET_F_CTRL_VQ)
          ? new ControlQueue(makeQueue(2 * maxPairs), dma)
          : undefined;
        return { pairs, control, headerSize, format, maxPairs };
      },
    );
    const net = new VirtioNet(
      transport,
      decision,
      value.pairs,
      value.control,
      value.headerSize,
      value.format,
      value.maxPairs,
    );
    // Queues beyond the first pair carry traffic only after VQ_PAIRS_SET (§5.1.6.5.5).
    if (pairsWanted > 1) net.setQueuePairs(pairsWanted);
    // Buffers are offered after DRIVER_OK: the device may not use them before (§3.1.1).
    for (const p of net.pairs) p.rx.fill();
    return net;
  }

  /** The MAC address from the device config (MAC feature), or undefined. */
  get mac(): string | undefined {
    if (!hasFeature(this.features, VIRTIO_NET_F_MAC)) return undefined;
    return this.transport.deviceConfig.consistent((c) =>
      Array.from({ length: 6 }, (_, i) => c.read8(NET_CONFIG.mac + i).toString(16).padStart(2, "0"))
        .join(":")
    );
  }

  /** The device's MTU (MTU feature), or undefined. */
  get mtu(): number | undefined {
    if (!hasFeature(this.features, VIRTIO_NET_F_MTU)) return undefined;
    return this.transport.deviceConfig.consistent((c) => c.read16(NET_CONFIG.mtu));
  }

  /** Link state from the status field (§5.1.4); true when the device has no STATUS feature. */
  linkUp(): boolean {
    if (!hasFeature(this.features, VIRTIO_NET_F_STATUS)) return true;
    return (this.transport.deviceConfig.consistent((c) => c.read16(NET_CONFIG.status)) &
      VIRTIO_NET_S_LINK_UP) !== 0;
  }

  #control(): ControlQueue {
    if (!this.control) throw new VirtioError("the device has no control queue (CTRL_VQ)");
    return this.control;
  }

  /** Promiscuous mode on or off (§5.1.6.5.1, needs CTRL_RX). */
  setPromiscuous(on: boolean): void {
    if (!hasFeature(this.features, VIRTIO_NET_F_CTRL_RX)) {
      throw new VirtioError("the device does not offer CTRL_RX (promiscuous mode control)");
    }
    this.#control().command(CTRL.RX, CTRL.RX_PROMISC, new Uint8Array([on ? 1 : 0]));
  }

  /** Sets the unicast and multicast MAC filter tables (§5.1.6.5.2). */
  setMacFilter(unicast: Uint8Array[], multicast: Uint8Array[] = []): void {
    const data = new Uint8Array(8 + 6 * (unicast.length + multicast.length));
    const view = new DataView(data.buffer);
    let at = 0;
    for (const table of [unicast, multicast]) {
      view.setUint32(at, table.length, true);
      at += 4;
      for (const mac of table) {
        data.set(mac.subarray(0, 6), at);
        at += 6;
      }
    }
    this.#control().command(CTRL.MAC, CTRL.MAC_TABLE_SET, data);
  }

  /** How many queue pairs the device spreads traffic over (§5.1.6.5.5). */
  setQueuePairs(n: number): void {
    this.#control().command(CTRL.MQ, CTRL.MQ_VQ_PAIRS_SET, new Uint8Array([n & 0xff, n >> 8]));
  }
}
