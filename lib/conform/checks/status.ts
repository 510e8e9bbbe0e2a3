/**
 * Device status, feature negotiation and initialisation checks (VIRTIO 1.2 §2.1, §2.2,
 * §2.4, §2.5, §3.1, §6): reset completes, status bits read back, FEATURES_OK refused for a
 * subset the device cannot use, VERSION_1 offered, offered features consistent, a stable
 * config_generation, and a second initialisation after a reset.
 *
 * @module
 */
import { type Check, expect, fail, hex, pass } from "../check.ts";
import {
  commonCfg,
  type ConformContext,
  deviceCfg,
  has,
  needsModernPci,
  platformFeatures,
} from "../context.ts";
import { exchange, startSession } from "../session.ts";
import { hasWorkload, workloadOf } from "./workload.ts";
import { FEATURE_RULES, featureViolations } from "../../diag/feature_rules.ts";
import {
  COMMON_CFG,
  STATUS_ACKNOWLEDGE,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  VIRTIO_F_VERSION_1,
} from "../../virtio/constants.ts";
import { pollUntil } from "../../virtio/sleep.ts";

const ACK_DRIVER = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
const modern = (ctx: ConformContext) =>
  ctx.transport.kind === "modern" ? true : "legacy interface has no FEATURES_OK (§3.1.2)";

/** Writes ACK, DRIVER, `features`, FEATURES_OK; returns whether FEATURES_OK stuck. */
function tryFeatures(ctx: ConformContext, features: bigint): boolean {
  const t = ctx.transport;
  t.reset();
  t.setStatus(STATUS_ACKNOWLEDGE);
  t.setStatus(ACK_DRIVER);
  // §6.1: ACCESS_PLATFORM goes along whenever offered (a device behind an IOMMU needs it).
  t.setDriverFeatures(features | platformFeatures(ctx));
  t.setStatus(ACK_DRIVER | STATUS_FEATURES_OK);
  return (t.getStatus() & STATUS_FEATURES_OK) !== 0;
}

/** A feature bit the device does not offer (device-type bits 0..23 first, then transport). */
function unofferedBit(offered: bigint): bigint | undefined {
  for (const b of [...Array(24).keys(), 30, 31, 36, 37, 39, 41]) {
    if (!has(offered, BigInt(b))) return BigInt(b);
  }
  return undefined;
}

/** An offered subset that breaks one dependency rule: the dependent bit without its needs. */
function brokenSubset(ctx: ConformContext): { features: bigint; why: string } | undefined {
  const offered = ctx.transport.deviceFeatures();
  for (const rule of FEATURE_RULES.get(ctx.deviceType) ?? []) {
    if (!has(offered, rule.bit)) continue;
    let f = offered;
    for (const need of rule.anyOf) f &= ~(1n << need);
    // Drop every other bit that now depends on something missing, except the one under test.
    for (let i = 0; i < 4; i++) {
      for (const r of FEATURE_RULES.get(ctx.deviceType) ?? []) {
        if (r.bit !== rule.bit && has(f, r.bit) && !r.anyOf.some((n) => has(f, n))) {
          f &= ~(1n << r.bit);
        }
      }
    }
    const v = featureViolations(ctx.deviceType, f);
    if (v.length === 1) return { features: f, why: v[0]! };
  }
  return undefined;
}

export const STATUS_CHECKS: readonly Check[] = [
  {
    id: "status.reset-reads-0",
    section: "2.4.1",
    requirement: "after 0 is written to device_status, the device resets and device_status reads 0",
    applies: () => true,
    run: (ctx) => {
      const t = ctx.transport;
      t.setStatus(STATUS_ACKNOWLEDGE);
      t.setStatus(0);
      let s = -1;
      const ok = pollUntil(() => (s = t.getStatus()) === 0, 1000);
      return expect(ok, `status ${hex(s)} after 1 s`, "0");
    },
  },
  {
    id: "status.bits-read-back",
    section: "2.1",
    requirement: "device_status reads back the ACKNOWLEDGE and DRIVER bits the driver set",
    applies: () => true,
    run: (ctx) => {
      const t = ctx.transport;
      t.reset();
      t.setStatus(STATUS_ACKNOWLEDGE);
      const a = t.getStatus();
      t.setStatus(ACK_DRIVER);
      const b = t.getStatus();
      return expect(a === 1 && b === 3, `${hex(a)}, ${hex(b)}`, "0x1, 0x3");
    },
  },
  {
    id: "status.version-1-offered",
    section: "6.1",
    requirement: "a device reached through the modern interface offers VIRTIO_F_VERSION_1",
    applies: modern,
    run: (ctx) => {
      const f = ctx.transport.deviceFeatures();
      return expect(has(f, VIRTIO_F_VERSION_1), hex(f), "bit 32 set");
    },
  },
  {
    id: "status.offered-dependencies",
    section: "2.2.2",
    requirement: "the device offers no feature without the features it depends on (§5 tables)",
    applies: (ctx) => FEATURE_RULES.has(ctx.deviceType) ? true : "no dependency table for type",
    run: (ctx) => {
      const v = featureViolations(ctx.deviceType, ctx.transport.deviceFeatures());
      return v.length ? fail(v.join("; "), "no dependent feature offered alone") : pass();
    },
  },
  {
    id: "status.features-ok-valid",
    section: "2.2.2",
    requirement:
      "the device accepts (keeps FEATURES_OK set for) the valid subset VERSION_1 alone (plus ACCESS_PLATFORM when offered)",
    applies: modern,
    run: (ctx) => {
      const ok = tryFeatures(ctx, 1n << VIRTIO_F_VERSION_1);
      return expect(ok, ok ? "FEATURES_OK kept" : "FEATURES_OK cleared", "FEATURES_OK kept");
    },
  },
  {
    id: "status.features-ok-all-offered",
    section: "2.2.2",
    requirement: "the device accepts the full set of features it offers",
    applies: modern,
    run: (ctx) => {
      const f = ctx.transport.deviceFeatures();
      const ok = tryFeatures(ctx, f);
      return expect(ok, ok ? "FEATURES_OK kept" : `FEATURES_OK cleared for ${hex(f)}`, "kept");
    },
  },
  {
    id: "status.features-ok-unoffered",
    section: "2.2.2",
    requirement:
      "FEATURES_OK does not stay set when the driver accepts a bit the device did not offer",
    applies: modern,
    run: (ctx) => {
      const offered = ctx.transport.deviceFeatures();
      const extra = unofferedBit(offered);
      if (extra === undefined) return pass("every probed bit offered");
      const ok = tryFeatures(ctx, (1n << VIRTIO_F_VERSION_1) | (1n << extra));
      return expect(!ok, ok ? `FEATURES_OK kept with bit ${extra}` : "cleared", "cleared");
    },
  },
  {
    id: "status.features-ok-dependency",
    section: "2.2.2",
    requirement:
      "FEATURES_OK does not stay set for a subset that breaks a feature dependency (§5 tables)",
    applies: (ctx) => {
      const m = modern(ctx);
      if (m !== true) return m;
      return brokenSubset(ctx) ? true : "no offered feature has a dependency to break";
    },
    run: (ctx) => {
      const b = brokenSubset(ctx)!;
      const ok = tryFeatures(ctx, b.features);
      return expect(!ok, ok ? `FEATURES_OK kept for ${b.why}` : "cleared", "cleared");
    },
  },
  {
    id: "status.driver-ok-clean",
    section: "2.1.2",
    requirement:
      "after a correct initialisation device_status reads exactly what the driver set (no NEEDS_RESET, no FAILED)",
    applies: () => true,
    run: (ctx) => {
      startSession(ctx, { queues: [0] });
      const s = ctx.transport.getStatus();
      const want = ACK_DRIVER | STATUS_DRIVER_OK |
        (ctx.transport.kind === "modern" ? STATUS_FEATURES_OK : 0);
      return expect(s === want, hex(s), hex(want));
    },
  },
  {
    id: "status.no-needs-reset",
    section: "2.1.2",
    requirement: "a device that is used correctly does not set DEVICE_NEEDS_RESET",
    applies: () => true,
    run: (ctx) => {
      startSession(ctx, { queues: [0] });
      const s = ctx.transport.getStatus();
      return expect((s & STATUS_DEVICE_NEEDS_RESET) === 0, hex(s), "bit 6 clear");
    },
  },
  {
    id: "status.reinit-after-reset",
    section: "3.1.1",
    requirement: "after DRIVER_OK and a reset, the device initialises again to DRIVER_OK",
    applies: () => true,
    run: (ctx) => {
      startSession(ctx, { queues: [0] });
      ctx.transport.reset();
      startSession(ctx, { queues: [0] });
      const s = ctx.transport.getStatus();
      return expect((s & STATUS_DRIVER_OK) !== 0, hex(s), "DRIVER_OK set");
    },
  },
  {
    id: "status.config-generation-stable",
    section: "4.1.4.3.1",
    requirement: "config_generation does not change while the device configuration does not",
    applies: needsModernPci,
    run: (ctx) => {
      const c = commonCfg(ctx);
      const dev = deviceCfg(ctx);
      const gens: number[] = [c.read8(COMMON_CFG.config_generation)];
      for (let i = 0; i < 3; i++) {
        for (let o = 0; dev && o < Math.min(dev.length, 16); o++) dev.read8(o);
        gens.push(c.read8(COMMON_CFG.config_generation));
      }
      return expect(gens.every((g) => g === gens[0]), gens.join(", "), "one value");
    },
  },
  {
    id: "status.no-use-before-driver-ok",
    section: "2.1.2",
    requirement:
      "the device uses no buffer before DRIVER_OK, even when the queue is live and kicked",
    applies: hasWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      let early = 0;
      const s = startSession(ctx, {
        queues: [w.queue],
        beforeDriverOk: (s) => {
          const q = s.queue(w.queue);
          // Not exchange(): it waits for the buffer to be used, which must not happen yet.
          const m = ctx.dma.alloc(4096, 64);
          const req = w.request(0);
          let at = 0;
          const seg = (len: number) => ({ iova: m.iova + (at += len) - len, len });
          req.out.forEach((b) => m.bytes.set(b, at));
          const out = req.out.map((b) => seg(b.length));
          if (!q.addBuffer(out, req.inLens.map(seg), 0)) throw new Error("queue full");
          q.kick();
          const t = new Uint32Array(1), l = new Uint32Array(1);
          ctx.wait(() => (early += q.pollUsed(t, l)) > 0, 100);
        },
      });
      if (early) return fail(`${early} buffer used before DRIVER_OK`, "none");
      exchange(ctx, s.queue(w.queue), [w.request(1)]);
      return pass();
    },
  },
  {
    id: "status.no-spurious-config-interrupt",
    section: "2.5",
    requirement:
      "initialising the device does not raise a configuration change interrupt (ISR bit 1) when nothing changed",
    applies: hasWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      ctx.transport.reset();
      ctx.transport.readIsr();
      startSession(ctx, { queues: [w.queue] });
      let isr = 0;
      ctx.wait(() => ((isr |= ctx.transport.readIsr()) & 2) !== 0, 100);
      return expect((isr & 2) === 0, `ISR ${hex(isr)}`, "bit 1 clear");
    },
  },
  {
    id: "status.reset-after-failed",
    section: "2.1.1",
    requirement:
      "after the driver sets FAILED, a reset brings the device back and it initialises again",
    applies: () => true,
    run: (ctx) => {
      const t = ctx.transport;
      t.reset();
      t.setStatus(STATUS_ACKNOWLEDGE);
      t.setStatus(STATUS_ACKNOWLEDGE | STATUS_FAILED);
      t.reset();
      startSession(ctx, { queues: [] });
      const s = t.getStatus();
      return expect(
        (s & STATUS_DRIVER_OK) !== 0 && !(s & STATUS_FAILED),
        hex(s),
        "DRIVER_OK, no FAILED",
      );
    },
  },
];
