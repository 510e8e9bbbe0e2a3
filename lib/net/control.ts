/**
 * The virtio-net control virtqueue (VIRTIO 1.2 §5.1.6.5): one command at a time, each a
 * chain of a device-readable class/command header with its data and a device-writable ack.
 *
 * @module
 */
import { DeviceError, TimeoutError } from "../errors.ts";
import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { RingQueue } from "../queue/virtqueue.ts";
import { pollUntil } from "../virtio/sleep.ts";

/** §5.1.6.5 classes and commands. */
export const CTRL = {
  RX: 0,
  RX_PROMISC: 0,
  RX_ALLMULTI: 1,
  MAC: 1,
  MAC_TABLE_SET: 0,
  MAC_ADDR_SET: 1,
  MQ: 4,
  MQ_VQ_PAIRS_SET: 0,
} as const;
const VIRTIO_NET_OK = 0;
const ACK_OFFSET = 256;

/** The virtio-net control virtqueue (§5.1.6.5): one command at a time, acknowledged by the device. */
export class ControlQueue {
  readonly #buf: DmaRegion;
  readonly #tokens = new Uint32Array(1);
  readonly #lens = new Uint32Array(1);

  /** A control queue over `queue`; a command waits at most `timeoutMs` for its ack. */
  constructor(readonly queue: RingQueue, dma: DmaAllocator, readonly timeoutMs = 2000) {
    this.#buf = dma.alloc(512, 64);
  }

  /** Sends one command and waits (bounded) for the device's ack. */
  command(cls: number, cmd: number, data: Uint8Array): void {
    if (data.length > ACK_OFFSET - 2) throw new RangeError("control command data too long");
    const b = this.#buf.bytes;
    b[0] = cls;
    b[1] = cmd;
    b.set(data, 2);
    b[ACK_OFFSET] = 0xff; // anything but OK: a device that writes nothing is not taken as OK
    const iova = this.#buf.iova;
    if (
      !this.queue.addBuffer(
        [{ iova, len: 2 + data.length }],
        [{ iova: iova + ACK_OFFSET, len: 1 }],
        0,
      )
    ) {
      throw new DeviceError("control queue full: an earlier command never completed");
    }
    this.queue.kick();
    if (!pollUntil(() => this.queue.pollUsed(this.#tokens, this.#lens) > 0, this.timeoutMs)) {
      throw new TimeoutError(
        `control command ${cls}.${cmd}: no answer within ${this.timeoutMs} ms`,
      );
    }
    const ack = b[ACK_OFFSET];
    if (ack !== VIRTIO_NET_OK) {
      throw new DeviceError(`control command ${cls}.${cmd} refused by the device (ack ${ack})`);
    }
  }
}
