/**
 * Per-queue reset with VIRTIO_F_RING_RESET (VIRTIO 1.2 §2.6.1, §4.1.4.3): queue_reset reads 0
 * while a queue runs, a written 1 resets the queue (queue_reset and queue_enable read 0 when
 * done), and the queue can be set up again and used without resetting the device.
 *
 * @module
 */
import { type Check, expect, fail, pass } from "../check.ts";
import { type ConformContext, needsFeature, needsModernPci } from "../context.ts";
import { exchange, startSession } from "../session.ts";
import { commonWithQueue } from "./pci_registers.ts";
import { workloadFor, workloadOf } from "./workload.ts";
import { createVirtqueue } from "../../queue/virtqueue.ts";
import { COMMON_CFG, VIRTIO_F_RING_RESET } from "../../virtio/constants.ts";
import { firstCap } from "../../virtio/capabilities.ts";
import { VIRTIO_PCI_CAP_COMMON_CFG } from "../../virtio/constants.ts";

const applies = (ctx: ConformContext) => {
  const m = needsModernPci(ctx);
  if (m !== true) return m;
  const f = needsFeature(ctx, VIRTIO_F_RING_RESET, "RING_RESET");
  if (f !== true) return f;
  const w = workloadFor(ctx);
  if (typeof w === "string") return w;
  const common = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_COMMON_CFG)!;
  return common.length >= 0x3cn ? true : "common configuration has no queue_reset field";
};

/** A running session on the workload queue with RING_RESET negotiated. */
function running(ctx: ConformContext) {
  const w = workloadOf(ctx);
  const s = startSession(ctx, { queues: [w.queue], want: 1n << VIRTIO_F_RING_RESET });
  return { w, s, q: s.queue(w.queue) };
}

/** Writes 1 to queue_reset and waits (bounded) until it reads 0; returns the final fields. */
function resetQueue(ctx: ConformContext, index: number) {
  commonWithQueue(ctx, index, (c) => c.write16(COMMON_CFG.queue_reset, 1));
  let reset = 1;
  ctx.wait(
    () => (reset = commonWithQueue(ctx, index, (c) => c.read16(COMMON_CFG.queue_reset))) === 0,
    1000,
  );
  const enable = commonWithQueue(ctx, index, (c) => c.read16(COMMON_CFG.queue_enable));
  return { reset, enable };
}

export const RING_RESET_CHECKS: readonly Check[] = [
  {
    id: "pci.ring-reset.running-reads-0",
    section: "4.1.4.3.1",
    requirement: "with RING_RESET negotiated, queue_reset reads 0 for an enabled queue",
    applies,
    run: (ctx) => {
      const { w } = running(ctx);
      const v = commonWithQueue(ctx, w.queue, (c) => c.read16(COMMON_CFG.queue_reset));
      return expect(v === 0, String(v), "0");
    },
  },
  {
    id: "pci.ring-reset.completes",
    section: "4.1.4.3.1",
    requirement:
      "a 1 written to queue_reset resets the queue: queue_reset and queue_enable then read 0",
    applies,
    run: (ctx) => {
      const { w, q } = running(ctx);
      exchange(ctx, q, [w.request(0)]);
      const r = resetQueue(ctx, w.queue);
      return expect(
        r.reset === 0 && r.enable === 0,
        `queue_reset ${r.reset}, queue_enable ${r.enable}`,
        "0, 0",
      );
    },
  },
  {
    id: "pci.ring-reset.reuse",
    section: "2.6.1",
    requirement:
      "after a queue reset the queue can be set up again and used, the device still live",
    applies,
    run: (ctx) => {
      const { w, q } = running(ctx);
      exchange(ctx, q, [w.request(0)]);
      const r = resetQueue(ctx, w.queue);
      if (r.reset !== 0) return fail(`queue_reset ${r.reset}`, "0 after the reset");
      const fresh = createVirtqueue({
        dma: ctx.dma,
        size: q.size,
        format: q.format,
        notify: () => notify(0),
      });
      ctx.transport.setupQueue(w.queue, q.size, fresh.addresses);
      const notify = ctx.transport.notifier(w.queue);
      const used = exchange(ctx, fresh, [w.request(1)]);
      return pass(`${used.length} buffer used after the queue reset`);
    },
  },
];
