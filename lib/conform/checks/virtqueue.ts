/**
 * Virtqueue checks (VIRTIO 1.2 §2.7 split, §2.8 packed), each run once per ring format:
 * used ids and lengths valid, no buffer used twice, every buffer used, readable buffers left
 * alone, IN_ORDER order, used-buffer notifications (seen through the ISR, §4.1.4.5) sent
 * when enabled and suppressed when asked, indirect descriptors, chains of queue length.
 *
 * @module
 */
import { type Check, expect, fail, pass } from "../check.ts";
import { type ConformContext, has, needsFeature } from "../context.ts";
import { exchange, startSession } from "../session.ts";
import { workloadFor, workloadOf } from "./workload.ts";
import type { RingFormat } from "../../queue/virtqueue.ts";
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_RING_PACKED,
} from "../../virtio/constants.ts";

const equal = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function formatApplies(ctx: ConformContext, format: RingFormat, extra?: [bigint, string]) {
  const w = workloadFor(ctx);
  if (typeof w === "string") return w;
  if (format === "packed") {
    if (ctx.transport.kind === "legacy") return "legacy interface: split ring only";
    const p = needsFeature(ctx, VIRTIO_F_RING_PACKED, "RING_PACKED");
    if (p !== true) return p;
  }
  return extra ? needsFeature(ctx, extra[0], extra[1]) : true;
}

/** Reads the ISR until bit 0 (queue interrupt) shows or the wait ends; true if it showed. */
function queueInterrupt(ctx: ConformContext, ms: number): boolean {
  let isr = 0;
  ctx.wait(() => ((isr |= ctx.transport.readIsr()) & 1) !== 0, ms);
  return (isr & 1) !== 0;
}

function forFormat(format: RingFormat): Check[] {
  const f = format;
  const sec = f === "split" ? "2.7" : "2.8";
  const setup = (ctx: ConformContext, want = 0n, size?: number) => {
    const w = workloadOf(ctx);
    const s = startSession(ctx, { queues: [w.queue], format: f, want, ...(size ? { size } : {}) });
    return { w, s, q: s.queue(w.queue) };
  };
  const notify = (
    id: string,
    section: string,
    requirement: string,
    eventIdx: boolean,
    on: boolean,
  ): Check => ({
    id: `vq.${f}.${id}`,
    section,
    requirement,
    applies: (ctx) =>
      formatApplies(ctx, f, eventIdx ? [VIRTIO_F_EVENT_IDX, "EVENT_IDX"] : undefined),
    run: (ctx) => {
      const { w, q, s } = setup(ctx, eventIdx ? 1n << VIRTIO_F_EVENT_IDX : 0n);
      if (has(s.features, VIRTIO_F_EVENT_IDX) !== eventIdx) {
        throw new Error("EVENT_IDX not as asked");
      }
      if (!on) {
        // One buffer with notifications on first: a device may always notify the first
        // used buffer after setup (QEMU does); suppression is judged in the steady state.
        exchange(ctx, q, [w.request(1)]);
        queueInterrupt(ctx, 100);
      }
      if (on) q.enableInterrupts();
      else q.disableInterrupts();
      ctx.transport.readIsr(); // clear what reset left
      exchange(ctx, q, [w.request(0)]);
      const seen = queueInterrupt(ctx, on ? 500 : 100);
      return expect(
        seen === on,
        seen ? "ISR queue bit set" : "ISR queue bit clear",
        on ? "set" : "clear",
      );
    },
  });
  return [
    {
      id: `vq.${f}.used-id`,
      section: f === "split" ? "2.7.8" : "2.8.6",
      requirement: "the device returns only ids of buffers the driver made available",
      applies: (ctx) => formatApplies(ctx, f),
      run: (ctx) => {
        const { w, q } = setup(ctx);
        const used = exchange(ctx, q, [0, 1, 2, 3].map((i) => w.request(i)));
        return pass(`tokens ${used.map((u) => u.token).join(",")}`);
      },
    },
    {
      id: `vq.${f}.used-len`,
      section: f === "split" ? "2.7.8" : "2.8.6",
      requirement: "a used length never exceeds the device-writable bytes of the buffer",
      applies: (ctx) => formatApplies(ctx, f),
      run: (ctx) => {
        const { w, q } = setup(ctx);
        const reqs = [0, 1, 2, 3].map((i) => w.request(i));
        for (const u of exchange(ctx, q, reqs)) {
          const cap = reqs[u.token]!.inLens.reduce((a, b) => a + b, 0);
          if (u.len > cap) return fail(`len ${u.len} for buffer ${u.token}`, `<= ${cap}`);
        }
        return pass();
      },
    },
    {
      id: `vq.${f}.no-double-use`,
      section: sec,
      requirement:
        "the device uses each available buffer once: nothing more appears after all are used",
      applies: (ctx) => formatApplies(ctx, f),
      run: (ctx) => {
        const { w, q } = setup(ctx);
        exchange(ctx, q, [0, 1, 2, 3].map((i) => w.request(i)));
        const t = new Uint32Array(8), l = new Uint32Array(8);
        let extra = 0;
        ctx.wait(() => (extra += q.pollUsed(t, l)) > 0, 50);
        return expect(extra === 0, `${extra} more used entries`, "none");
      },
    },
    {
      id: `vq.${f}.all-used`,
      section: sec,
      requirement: "every buffer made available and notified is eventually used",
      applies: (ctx) => formatApplies(ctx, f),
      run: (ctx) => {
        const { w, q } = setup(ctx);
        const n = Math.min(q.size, 16);
        const used = exchange(ctx, q, Array.from({ length: n }, (_, i) => w.request(i)));
        return pass(`${used.length} of ${n}`);
      },
    },
    {
      id: `vq.${f}.readable-untouched`,
      section: f === "split" ? "2.7.4.1" : "2.8.4",
      requirement: "the device does not write to device-readable buffers",
      applies: (ctx) => {
        const a = formatApplies(ctx, f);
        if (a !== true) return a;
        const w = workloadFor(ctx);
        return typeof w !== "string" && w.request(0).out.length
          ? true
          : "requests have no readable part";
      },
      run: (ctx) => {
        const { w, q } = setup(ctx);
        const reqs = [0, 1].map((i) => w.request(i));
        for (const u of exchange(ctx, q, reqs)) {
          const orig = reqs[u.token]!.out;
          if (!u.out.every((b, i) => equal(b, orig[i]!))) {
            return fail(`buffer ${u.token}'s readable bytes changed`, "unchanged");
          }
        }
        return pass();
      },
    },
    {
      id: `vq.${f}.in-order`,
      section: f === "split" ? "2.7.9" : "2.8.20",
      requirement:
        "with IN_ORDER negotiated, buffers are used in the order they were made available",
      applies: (ctx) => formatApplies(ctx, f, [VIRTIO_F_IN_ORDER, "IN_ORDER"]),
      run: (ctx) => {
        const { w, q } = setup(ctx, 1n << VIRTIO_F_IN_ORDER);
        const used = exchange(ctx, q, Array.from({ length: 8 }, (_, i) => w.request(i)));
        const order = used.map((u) => u.token);
        // A device may complete an in-order batch with one entry for its last buffer; the
        // queue accounts for that, so entries left over after all 8 are out-of-order ones.
        const t = new Uint32Array(8), l = new Uint32Array(8);
        let extra = 0;
        ctx.wait(() => (extra += q.pollUsed(t, l)) > 0, 50);
        const ok = extra === 0 && order.every((t, i) => t === i);
        return expect(
          ok,
          `${order.join(",")}${extra ? ` then ${extra} more entries` : ""}`,
          "0,1,...,7",
        );
      },
    },
    notify(
      "notify-enabled",
      f === "split" ? "2.7.7.2" : "2.8.21.3.1",
      "without EVENT_IDX and with notifications enabled, the device notifies after using a buffer",
      false,
      true,
    ),
    notify(
      "notify-suppressed",
      f === "split" ? "2.7.7.2" : "2.8.21.3.1",
      "with notifications disabled by the driver, the device does not notify (SHOULD)",
      false,
      false,
    ),
    notify(
      "event-idx-notify",
      f === "split" ? "2.7.7.2" : "2.8.21.3.1",
      "with EVENT_IDX, the device notifies when it reaches the driver's event index",
      true,
      true,
    ),
    notify(
      "event-idx-suppressed",
      f === "split" ? "2.7.7.2" : "2.8.21.3.1",
      "with EVENT_IDX and the event index out of reach, the device does not notify (SHOULD)",
      true,
      false,
    ),
    {
      id: `vq.${f}.indirect`,
      section: f === "split" ? "2.7.5.3" : "2.8.19",
      requirement: "with INDIRECT_DESC negotiated, a buffer described by an indirect table is used",
      applies: (ctx) => formatApplies(ctx, f, [VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"]),
      run: (ctx) => {
        const { w, q } = setup(ctx, 1n << VIRTIO_F_INDIRECT_DESC);
        const n = Math.max(3, w.minChain);
        const used = exchange(ctx, q, [w.request(0, n), w.request(1, n)], { indirect: true });
        return pass(`${used.length} buffers of ${n} indirect descriptors`);
      },
    },
    {
      id: `vq.${f}.max-chain`,
      section: f === "split" ? "2.7.13.1" : "2.8.17",
      requirement:
        "a chain as long as the queue (or the type's segment limit) is accepted and used",
      applies: (ctx) => formatApplies(ctx, f),
      run: (ctx) => {
        const { w, q } = setup(ctx, 0n, 64);
        const n = Math.min(q.size, w.maxChain(ctx));
        exchange(ctx, q, [w.request(0, n)]);
        return pass(`${n} descriptors`);
      },
    },
  ];
}

/**
 * Packed IN_ORDER has no check: a device may answer a batch with one used descriptor carrying
 * the last buffer's id (§2.8.20), so a reordering is indistinguishable, to a driver reading
 * the ring as the spec says, from a legal batch.
 */
export const VIRTQUEUE_CHECKS: readonly Check[] = [
  ...forFormat("split"),
  ...forFormat("packed").filter((c) => c.id !== "vq.packed.in-order"),
];
