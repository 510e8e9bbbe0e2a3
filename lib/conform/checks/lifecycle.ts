/**
 * Reset and error-recovery checks (VIRTIO 1.2 §2.1.1, §2.1.2, §2.4.1): a ring error makes
 * the device set DEVICE_NEEDS_RESET and a reset recovers it; a reset with buffers in flight,
 * then a second initialisation that carries traffic; and what a completed reset must stop
 * (the device touching the old rings, an interrupt still pending from before).
 *
 * The ring-error and old-ring checks lay one split ring out by hand (not through the queue
 * code, which would refuse to publish a bad entry, and publishes only when it notifies).
 *
 * @module
 */
import { type Check, expect, fail, hex, pass, skip } from "../check.ts";
import { type ConformContext, needsModernPci, negotiate } from "../context.ts";
import { exchange, type Request, startSession } from "../session.ts";
import type { Virtqueue } from "../../queue/virtqueue.ts";
import { hasWorkload, workloadOf } from "./workload.ts";
import { STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK } from "../../virtio/constants.ts";

/** Where the hand-laid ring keeps its parts inside its 4 KiB region. */
const AVAIL = 1024, USED = 2048, DATA = 3072;

/** Modern PCI (DEVICE_NEEDS_RESET and queue_enable exist) and a harmless request. */
function modernWorkload(ctx: ConformContext): true | string {
  const m = needsModernPci(ctx);
  return m === true ? hasWorkload(ctx) : m;
}

/** The receive queue a device keeps buffers on until input comes (net, console), if any. */
function receiveQueue(ctx: ConformContext): number | undefined {
  return ctx.deviceType === 1 || ctx.deviceType === 3 ? 0 : undefined;
}

/** A split ring in one 4 KiB region, set up on its queue after FEATURES_OK, then DRIVER_OK. */
interface RawRing {
  readonly view: DataView;
  readonly size: number;
  readonly iova: number;
  readonly kick: () => void;
  /** used.idx as the device last wrote it. */
  usedIdx(): number;
}

function rawRing(ctx: ConformContext, queue: number): RawRing {
  const t = ctx.transport;
  negotiate(ctx);
  let size = Math.min(t.queueMaxSize(queue), 64);
  while (size & (size - 1)) size &= size - 1;
  if (size === 0) throw new Error(`queue ${queue} is not available`);
  const m = ctx.dma.alloc(4096, 4096);
  m.bytes.fill(0);
  t.setupQueue(queue, size, { desc: m.iova, driver: m.iova + AVAIL, device: m.iova + USED });
  const notify = t.notifier(queue);
  t.setStatus(t.getStatus() | STATUS_DRIVER_OK);
  const view = new DataView(m.bytes.buffer, m.bytes.byteOffset, 4096);
  return {
    view,
    size,
    iova: m.iova,
    kick: () => notify(0),
    usedIdx: () => view.getUint16(USED + 2, true),
  };
}

/** Writes `req` as one descriptor chain from head 0 and publishes it (avail.idx 1), no kick. */
function publish(r: RawRing, req: Request): void {
  const parts = req.out.map((b) => ({ b, len: b.length, w: false }));
  for (const n of req.inLens) parts.push({ b: new Uint8Array(0), len: n, w: true });
  if (parts.length > r.size) throw new Error(`a ${parts.length}-part request on a ${r.size}-ring`);
  let at = DATA;
  parts.forEach((p, i) => {
    if (at + p.len > 4096) throw new Error("request larger than the hand-laid ring's data area");
    new Uint8Array(r.view.buffer, r.view.byteOffset + at, p.b.length).set(p.b);
    const d = 16 * i;
    r.view.setBigUint64(d, BigInt(r.iova + at), true);
    r.view.setUint32(d + 8, p.len, true);
    // §2.7.5: NEXT (1) on all but the last; WRITE (2) on device-writable parts.
    r.view.setUint16(d + 12, (i < parts.length - 1 ? 1 : 0) | (p.w ? 2 : 0), true);
    r.view.setUint16(d + 14, i + 1, true);
    at += (p.len + 15) & ~15;
  });
  r.view.setUint16(AVAIL + 4, 0, true);
  r.view.setUint16(AVAIL + 2, 1, true);
}

/** Puts a head the queue does not have (≥ size) on the available ring and kicks. */
function provokeRingError(ctx: ConformContext): void {
  const r = rawRing(ctx, workloadOf(ctx).queue);
  r.view.setUint16(AVAIL + 4, r.size + 3, true);
  r.view.setUint16(AVAIL + 2, 1, true);
  r.kick();
}

/** Makes `req` available on `q` with `token` in fresh DMA memory (no kick, no wait). */
function offer(ctx: ConformContext, q: Virtqueue, req: Request, token: number): void {
  const seg = (len: number) => {
    const m = ctx.dma.alloc(Math.max(1, len), 64);
    return { m, iova: m.iova, len };
  };
  const out = req.out.map((b) => {
    const s = seg(b.length);
    s.m.bytes.set(b);
    return s;
  });
  if (!q.addBuffer(out, req.inLens.map(seg), token)) throw new Error("queue full");
}

export const LIFECYCLE_CHECKS: readonly Check[] = [
  {
    id: "status.needs-reset-on-error",
    section: "2.1.2",
    requirement:
      "a device that meets an error it cannot recover from without a reset (an available ring naming a descriptor beyond the queue size) sets DEVICE_NEEDS_RESET (a SHOULD)",
    applies: modernWorkload,
    run: (ctx) => {
      provokeRingError(ctx);
      let s = 0;
      const ok = ctx.wait(
        () => ((s = ctx.transport.getStatus()) & STATUS_DEVICE_NEEDS_RESET) !== 0,
        500,
      );
      return expect(ok, `status ${hex(s)}`, "bit 6 (DEVICE_NEEDS_RESET) set");
    },
  },
  {
    id: "status.needs-reset-recovers",
    section: "2.1.1",
    requirement:
      "after a ring error, a reset brings device_status to 0 and the device initialises again, with DEVICE_NEEDS_RESET clear, and uses buffers (§2.4.1)",
    applies: modernWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      provokeRingError(ctx);
      ctx.wait(() => (ctx.transport.getStatus() & STATUS_DEVICE_NEEDS_RESET) !== 0, 200);
      ctx.transport.reset(); // throws when device_status does not read 0 (§2.4.1)
      const s = startSession(ctx, { queues: [w.queue] });
      const st = ctx.transport.getStatus();
      if (st & STATUS_DEVICE_NEEDS_RESET) return fail(hex(st), "DEVICE_NEEDS_RESET clear");
      exchange(ctx, s.queue(w.queue), [w.request(0)]);
      return pass(`status ${hex(st)}, one buffer used`);
    },
  },
  {
    id: "status.reset-mid-operation",
    section: "2.4.1",
    requirement:
      "a reset with buffers in flight (kicked and not yet used, receive buffers held) completes (device_status reads 0), and after it the device initialises again and uses new buffers",
    applies: hasWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      const rx = receiveQueue(ctx);
      const queues = rx === undefined ? [w.queue] : [rx, w.queue];
      const s = startSession(ctx, { queues });
      if (rx !== undefined) {
        const q = s.queue(rx);
        for (let k = 0; k < 4; k++) offer(ctx, q, { out: [], inLens: [2048] }, 100 + k);
        q.kick();
      }
      const q = s.queue(w.queue);
      for (let k = 0; k < 4; k++) offer(ctx, q, w.request(k), k);
      q.kick();
      // No wait for the device to finish: buffers are in flight. reset() throws when
      // device_status does not read 0 within its timeout.
      ctx.transport.reset();
      const again = startSession(ctx, { queues });
      exchange(ctx, again.queue(w.queue), [w.request(9)]);
      return pass();
    },
  },
  {
    id: "status.reset-forgets-rings",
    section: "2.4.1",
    requirement:
      "after a reset the device does not interact with the queues it had: re-initialised on new rings, it uses nothing left on the old ones (their used index stays put)",
    applies: modernWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      const old = rawRing(ctx, w.queue);
      publish(old, w.request(0)); // published, never notified
      const before = old.usedIdx();
      ctx.transport.reset();
      const s = startSession(ctx, { queues: [w.queue] });
      exchange(ctx, s.queue(w.queue), [w.request(1)]);
      const after = old.usedIdx();
      return expect(after === before, `old used.idx ${before} -> ${after}`, "unchanged");
    },
  },
  {
    id: "status.reset-clears-isr",
    section: "2.4.1",
    requirement:
      "after a reset the device sends no notification: a queue interrupt pending in the ISR before the reset reads 0 after it",
    applies: hasWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      const s = startSession(ctx, { queues: [w.queue] });
      const t = ctx.transport;
      t.readIsr();
      exchange(ctx, s.queue(w.queue), [w.request(0)]);
      let first = 0;
      ctx.wait(() => (first |= t.readIsr()) !== 0, 200);
      if (!first) return skip("the device raised no interrupt for a used buffer: nothing to clear");
      exchange(ctx, s.queue(w.queue), [w.request(1)]);
      ctx.wait(() => false, 50); // let the interrupt land; the ISR is left unread
      t.reset();
      const isr = t.readIsr();
      return expect(isr === 0, `ISR ${hex(isr)}`, "0x0");
    },
  },
];
