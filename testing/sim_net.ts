/**
 * A simulated virtio-net device in loopback (VIRTIO 1.2 §5.1): every frame the driver puts on
 * the transmit queue comes back on the receive queue, behind a fresh virtio_net_hdr
 * (§5.1.6: 12 bytes with VERSION_1 or MRG_RXBUF — num_buffers = 1 — else 10). Frames can
 * also be injected as if from a peer, and a callback sees every transmitted frame.
 *
 * @example
 * ```ts
 * import { createVirtqueue } from "../lib/queue/virtqueue.ts";
 * import { FakeDma } from "./fake_dma.ts";
 * import { SimNetLoopback } from "./sim_net.ts";
 *
 * const dma = new FakeDma();
 * const net = new SimNetLoopback(dma, { format: "split", size: 256 });
 * const rxq = createVirtqueue({ dma, size: 256, format: "split", notify: net.rx.notify });
 * const txq = createVirtqueue({ dma, size: 256, format: "split", notify: net.tx.notify });
 * net.attach(rxq.addresses, txq.addresses);
 * // post rx buffers, send on txq, then: net.step(); rxq.pollUsed(...)
 * ```
 *
 * @module
 */

import type { QueueAddresses } from "../lib/virtio/transport.ts";
import type { RingFormat } from "../lib/queue/virtqueue.ts";
import type { FakeDma } from "./fake_dma.ts";
import { type SimBuffer, SimQueue } from "./sim_device.ts";

/** How to simulate a virtio-net device's first queue pair. */
export interface SimNetOptions {
  /** Ring format (split or packed). */
  readonly format: RingFormat;
  /** Size of each of the two queues. */
  readonly size: number;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx?: boolean;
  /** virtio_net_hdr size: 12 (VERSION_1 / MRG_RXBUF, the default) or 10 (legacy). */
  readonly headerSize?: 10 | 12;
  /** Loop transmitted frames back to rx (default true). */
  readonly loopback?: boolean;
  /** Frames waiting for an rx buffer beyond this are dropped (default 1024). */
  readonly maxPending?: number;
}

/** The device side of a virtio-net queue pair: takes transmitted frames and loops them back to rx. */
export class SimNetLoopback {
  /** The receive queue (queue 0) as the device sees it. */
  readonly rx: SimQueue;
  /** The transmit queue (queue 1) as the device sees it. */
  readonly tx: SimQueue;
  /** virtio_net_hdr size in front of every frame (§5.1.6). */
  readonly headerSize: number;
  /** Called with a copy of each transmitted frame (without the virtio-net header). */
  onTransmit: ((frame: Uint8Array) => void) | undefined;
  /** Frames taken off the tx queue. */
  transmitted = 0;
  /** Frames delivered into rx buffers. */
  received = 0;
  /** Frames dropped because too many were waiting for rx buffers. */
  dropped = 0;
  readonly #pending: Uint8Array[] = [];
  readonly #loopback: boolean;
  readonly #maxPending: number;

  /** A loopback NIC over `dma`; call `attach` before `step`. */
  constructor(dma: FakeDma, options: SimNetOptions) {
    const q = { format: options.format, size: options.size, eventIdx: options.eventIdx };
    this.rx = new SimQueue(dma, q);
    this.tx = new SimQueue(dma, q);
    this.headerSize = options.headerSize ?? 12;
    this.#loopback = options.loopback ?? true;
    this.#maxPending = options.maxPending ?? 1024;
  }

  /** Takes the rx and tx queue addresses, as a transport would program them. */
  attach(rx: QueueAddresses, tx: QueueAddresses): void {
    this.rx.attach(rx);
    this.tx.attach(tx);
  }

  /** A frame arriving from the wire: delivered on the next step() with an rx buffer. */
  inject(frame: Uint8Array): void {
    if (this.#pending.length >= this.#maxPending) this.dropped++;
    else this.#pending.push(frame.slice());
  }

  /** Frames waiting for an rx buffer. */
  get pendingFrames(): number {
    return this.#pending.length;
  }

  /** Moves everything: drains tx, then fills rx buffers with waiting frames. */
  step(): void {
    for (const buf of this.tx.take()) {
      const frame = gather(buf).subarray(this.headerSize);
      this.transmitted++;
      this.onTransmit?.(frame);
      if (this.#loopback) this.inject(frame);
      this.tx.complete(buf, 0); // §5.1.6.2: transmit buffers are read-only, used len 0
    }
    this.tx.publish();
    let delivered = 0;
    while (this.#pending.length > 0) {
      const [buf] = this.rx.take(1);
      if (!buf) break;
      const frame = this.#pending.shift()!;
      this.rx.complete(buf, this.#fill(buf, frame));
      delivered++;
    }
    if (delivered > 0) this.rx.publish();
    this.received += delivered;
  }

  /** Writes header + frame into the buffer's writable segments; returns bytes written. */
  #fill(buf: SimBuffer, frame: Uint8Array): number {
    const all = new Uint8Array(this.headerSize + frame.length);
    if (this.headerSize === 12) all[10] = 1; // num_buffers = 1 (le16)
    all.set(frame, this.headerSize);
    let written = 0;
    for (const seg of buf.in) {
      const n = Math.min(seg.length, all.length - written);
      seg.set(all.subarray(written, written + n));
      written += n;
      if (written === all.length) break;
    }
    return written;
  }
}

/** Concatenates the device-readable segments of a buffer. */
function gather(buf: SimBuffer): Uint8Array {
  if (buf.out.length === 1) return buf.out[0]!.slice();
  const total = buf.out.reduce((n, s) => n + s.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const s of buf.out) {
    out.set(s, o);
    o += s.length;
  }
  return out;
}
