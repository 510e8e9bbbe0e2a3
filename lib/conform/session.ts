/**
 * Bringing a device up for a check (§3.1.1 through initializeDevice) with chosen features
 * and queues, and the one exchange every queue check needs: put a buffer on a queue, kick,
 * wait (bounded) for the device to use it. Everything the device writes back is checked by
 * the queue code (used ids, lengths) before a check sees it.
 *
 * @module
 */
import { initializeDevice } from "../virtio/initialize.ts";
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_RING_PACKED,
} from "../virtio/constants.ts";
import { createVirtqueue, type RingFormat, type Virtqueue } from "../queue/virtqueue.ts";
import type { DmaRegion } from "../dma/memory.ts";
import { type ConformContext, has, platformFeatures } from "./context.ts";

/** What to bring up. */
export interface SessionOptions {
  /** Queue indices to set up. */
  readonly queues: readonly number[];
  /** Ring format (packed needs RING_PACKED offered). Default split. */
  readonly format?: RingFormat;
  /** Extra feature bits to accept when offered. */
  readonly want?: bigint;
  /** Largest queue size to use (default 64; the device maximum when smaller). */
  readonly size?: number;
  /** Descriptors per indirect table. */
  readonly maxIndirect?: number;
  /** Runs with the queues set up and live, before DRIVER_OK is written. */
  readonly beforeDriverOk?: (s: Session) => void;
}

/** A live device: negotiated features and the queues by index. */
export interface Session {
  readonly features: bigint;
  readonly queues: ReadonlyMap<number, Virtqueue>;
  /** A queue that must exist (throws otherwise). */
  queue(index: number): Virtqueue;
}

/** Resets, negotiates and sets the queues up, then DRIVER_OK. */
export function startSession(ctx: ConformContext, o: SessionOptions): Session {
  const t = ctx.transport;
  const format = o.format ?? "split";
  const ringBits = format === "packed" ? 1n << VIRTIO_F_RING_PACKED : 0n;
  const queues = new Map<number, Virtqueue>();
  const notifiers = new Map<number, (v: number) => void>();
  const { decision } = initializeDevice(
    t,
    { wanted: (o.want ?? 0n) | ringBits | platformFeatures(ctx), required: ringBits },
    (d) => {
      for (const i of o.queues) {
        const max = t.queueMaxSize(i);
        if (max === 0) throw new Error(`queue ${i} is not available`);
        let size = t.kind === "legacy" ? max : Math.min(max, o.size ?? 64);
        if (format === "split") { while (size & (size - 1)) size &= size - 1; }
        const q = createVirtqueue({
          dma: ctx.dma,
          size,
          format,
          eventIdx: has(d.accepted, VIRTIO_F_EVENT_IDX),
          indirect: has(d.accepted, VIRTIO_F_INDIRECT_DESC),
          inOrder: has(d.accepted, VIRTIO_F_IN_ORDER),
          legacyLayout: t.kind === "legacy",
          ...(o.maxIndirect ? { maxIndirect: o.maxIndirect } : {}),
          notify: (v) => notifiers.get(i)?.(v),
        });
        t.setupQueue(i, size, q.addresses);
        queues.set(i, q);
      }
      // The notifier is taken after the features are written (NOTIFICATION_DATA decides its width).
      for (const i of queues.keys()) notifiers.set(i, t.notifier(i));
      o.beforeDriverOk?.(session(d.accepted));
      return undefined;
    },
  );
  return session(decision.accepted);

  function session(features: bigint): Session {
    return {
      features,
      queues,
      queue(i) {
        const q = queues.get(i);
        if (!q) throw new Error(`queue ${i} not set up`);
        return q;
      },
    };
  }
}

/** One buffer as the device used it. */
export interface Used {
  /** Used length the device reported. */
  readonly len: number;
  /** The device-readable parts after use (to see whether the device wrote them). */
  readonly out: readonly Uint8Array[];
  /** The device-writable parts. */
  readonly in: readonly Uint8Array[];
  /** Token the queue returned. */
  readonly token: number;
}

/** Buffers of one request: readable parts (copied in) and writable parts (sizes). */
export interface Request {
  readonly out: readonly Uint8Array[];
  readonly inLens: readonly number[];
}

/** Puts `reqs` on `q` (tokens 0..n-1), kicks once, waits until all are used; in use order. */
export function exchange(
  ctx: ConformContext,
  q: Virtqueue,
  reqs: readonly Request[],
  o: { indirect?: boolean } = {},
): Used[] {
  const made: { out: DmaRegion[]; in: DmaRegion[] }[] = [];
  reqs.forEach((r, token) => {
    const out = r.out.map((b) => {
      const m = ctx.dma.alloc(Math.max(1, b.length), 64);
      m.bytes.set(b);
      return m;
    });
    const inn = r.inLens.map((n) => ctx.dma.alloc(Math.max(1, n), 64));
    made.push({ out, in: inn });
    const ok = q.addBuffer(
      out.map((m, i) => ({ iova: m.iova, len: r.out[i]!.length })),
      inn.map((m, i) => ({ iova: m.iova, len: r.inLens[i]! })),
      token,
      o.indirect ?? false,
    );
    if (!ok) throw new Error(`queue full after ${token} buffers`);
  });
  q.kick();
  const tokens = new Uint32Array(reqs.length);
  const lens = new Uint32Array(reqs.length);
  const used: Used[] = [];
  const done = ctx.wait(() => {
    const start = used.length;
    const n = q.pollUsed(tokens.subarray(start), lens.subarray(start));
    for (let k = start; k < start + n; k++) {
      const token = tokens[k]!;
      const m = made[token];
      if (!m) throw new Error(`used token ${token} was never made available`);
      used.push({
        token,
        len: lens[k]!,
        out: m.out.map((r, i) => r.bytes.subarray(0, reqs[token]!.out[i]!.length)),
        in: m.in.map((r, i) => r.bytes.subarray(0, reqs[token]!.inLens[i]!)),
      });
    }
    return used.length >= reqs.length;
  });
  if (!done) {
    throw new Error(`the device used ${used.length} of ${reqs.length} buffers within the timeout`);
  }
  return used;
}
