/**
 * virtio-rng (VIRTIO 1.2 §5.4) and virtio-console (§5.3) checks.
 *
 * @module
 */
import { type Check, expect } from "../check.ts";
import type { ConformContext } from "../context.ts";
import { exchange, startSession } from "../session.ts";
import { VIRTIO_CONSOLE_F_MULTIPORT } from "../../virtio/features.ts";

export const RNG_CHECKS: readonly Check[] = [
  {
    id: "rng.fills",
    section: "5.4.6.1",
    requirement: "the device places at least one random byte in each buffer (len 1..buffer size)",
    applies: (ctx: ConformContext) => ctx.deviceType === 4 ? true : "not an entropy device",
    run: (ctx) => {
      const s = startSession(ctx, { queues: [0] });
      const used = exchange(ctx, s.queue(0), [{ out: [], inLens: [64] }, {
        out: [],
        inLens: [64],
      }]);
      const lens = used.map((u) => u.len);
      return expect(lens.every((l) => l >= 1 && l <= 64), lens.join(", "), "1..64 each");
    },
  },
];

export const CONSOLE_CHECKS: readonly Check[] = [
  {
    id: "console.max-ports",
    section: "5.3.4",
    requirement: "with MULTIPORT offered, max_nr_ports is at least 1",
    applies: (ctx) => {
      if (ctx.deviceType !== 3) return "not a console device";
      return (ctx.transport.deviceFeatures() >> VIRTIO_CONSOLE_F_MULTIPORT) & 1n
        ? true
        : "MULTIPORT not offered";
    },
    run: (ctx) => {
      const n = ctx.transport.deviceConfig.consistent((c) => c.read32(4));
      return expect(n >= 1, String(n), ">= 1");
    },
  },
];
