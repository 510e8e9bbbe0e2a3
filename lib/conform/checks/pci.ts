/**
 * Checks of the virtio PCI transport (VIRTIO 1.2 §4.1): PCI ids, the capability layout, the
 * common configuration structure's register rules, notification layout, the PCI
 * configuration access window and MSI-X vector mapping. Register writes stay inside the
 * device's own common configuration and pci_cfg capability.
 *
 * @module
 */
import { type Check, expect, fail, hex, pass } from "../check.ts";
import {
  commonCfg,
  type ConformContext,
  has,
  needsFeature,
  needsModernPci,
  negotiate,
} from "../context.ts";
import { PciCfgWindow } from "../../pci/cfg_window.ts";
import { commonWithQueue as withQueue } from "./pci_registers.ts";
import { firstCap } from "../../virtio/capabilities.ts";
import {
  COMMON_CFG,
  VIRTIO_F_NOTIFICATION_DATA,
  VIRTIO_F_RING_PACKED,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_PCI_CFG,
} from "../../virtio/constants.ts";

/** Device types with a device-specific configuration (§5): net, blk, console, scsi ... */
const HAS_CONFIG = new Set([1, 2, 3, 5, 8, 9, 16, 18, 19, 20, 23, 24, 26, 41]);
/** Minimum queues per type: net rx+tx, blk 1, console rx+tx, rng 1. */
const MIN_QUEUES: Record<number, number> = { 1: 2, 2: 1, 3: 2, 4: 1, 5: 3 };

/**
 * Bytes of device configuration the offered features make meaningful, per type: the end of
 * the last field a feature enables (§5.1.4 net, §5.2.4 blk, §5.3.4 console).
 */
const CONFIG_FIELDS: Record<number, readonly [bigint | undefined, number][]> = {
  1: [[5n, 6], [16n, 8], [22n, 10], [3n, 12], [63n, 17], [60n, 24], [57n, 24]],
  2: [
    [undefined, 8],
    [1n, 12],
    [2n, 16],
    [4n, 20],
    [6n, 24],
    [10n, 32],
    [11n, 33],
    [12n, 36],
    [13n, 48],
    [14n, 57],
  ],
  3: [[0n, 4], [1n, 8], [2n, 12]],
};

function neededConfig(type: number, features: bigint): number {
  let need = 0;
  for (const [bit, end] of CONFIG_FIELDS[type] ?? []) {
    if (bit === undefined || has(features, bit)) need = Math.max(need, end);
  }
  return need;
}

const pciOnly = (ctx: ConformContext) => ctx.pci ? true : "no PCI view of the device";
const ids = (ctx: ConformContext) => {
  const cs = ctx.pci!.config;
  return {
    vendor: cs.read16(0),
    device: cs.read16(2),
    revision: cs.read8(8),
    subsystem: cs.read16(0x2e),
  };
};
const transitional = (device: number) => device >= 0x1000 && device <= 0x103f;

function capPresent(id: string, cfgType: number, name: string, section: string): Check {
  return {
    id,
    section,
    requirement: `a modern device presents a ${name} capability (in BAR 0..5)`,
    applies: (ctx) => {
      const m = needsModernPci(ctx);
      if (m !== true) return m;
      if (cfgType === VIRTIO_PCI_CAP_DEVICE_CFG && !HAS_CONFIG.has(ctx.deviceType)) {
        return "device type has no device-specific configuration";
      }
      return true;
    },
    run: (ctx) => {
      const cap = cfgType === VIRTIO_PCI_CAP_PCI_CFG
        ? ctx.pci!.caps.find((c) => c.cfgType === cfgType)
        : firstCap(ctx.pci!.caps, cfgType);
      return expect(cap !== undefined, cap ? `at 0x${cap.capOffset.toString(16)}` : "none", name);
    },
  };
}

function findingCheck(id: string, requirement: string, match: RegExp): Check {
  return {
    id,
    section: "4.1.4",
    requirement,
    applies: needsModernPci,
    run: (ctx) => {
      const bad = ctx.pci!.capFindings.filter((f) => match.test(f));
      return bad.length ? fail(bad.join("; "), requirement) : pass();
    },
  };
}

/** Modern PCI with a pci_cfg capability (§4.1.4.9). */
function needsPciCfgWindow(ctx: ConformContext): true | string {
  const m = needsModernPci(ctx);
  if (m !== true) return m;
  return ctx.pci!.caps.some((c) => c.cfgType === VIRTIO_PCI_CAP_PCI_CFG)
    ? true
    : "no pci_cfg capability";
}

/** The common configuration structure reached through the pci_cfg window (§4.1.4.9). */
function commonThroughWindow(ctx: ConformContext, writable: boolean) {
  const pcicap = ctx.pci!.caps.find((c) => c.cfgType === VIRTIO_PCI_CAP_PCI_CFG)!;
  const common = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_COMMON_CFG)!;
  const w = new PciCfgWindow(ctx.pci!.config, pcicap.capOffset, pcicap.capLength);
  return w.region(
    { bar: common.bar, offset: Number(common.offset), length: Number(common.length) },
    writable,
  );
}

export const PCI_CHECKS: readonly Check[] = [
  {
    id: "pci.id.vendor",
    section: "4.1.2.1",
    requirement: "the PCI vendor ID is 0x1af4",
    applies: pciOnly,
    run: (ctx) => expect(ids(ctx).vendor === 0x1af4, hex(ids(ctx).vendor), "0x1af4"),
  },
  {
    id: "pci.id.device",
    section: "4.1.2.1",
    requirement: "the PCI device ID is 0x1040 + virtio type, or the transitional ID for the type",
    applies: pciOnly,
    run: (ctx) => {
      const d = ids(ctx).device;
      const ok = d === 0x1040 + ctx.deviceType || transitional(d);
      return expect(ok, hex(d), `${hex(0x1040 + ctx.deviceType)} or 0x1000..0x103f`);
    },
  },
  {
    id: "pci.id.transitional-revision",
    section: "4.1.2.1",
    requirement: "a transitional device (ID 0x1000..0x103f) has PCI revision 0",
    applies: (ctx) => ctx.pci && transitional(ids(ctx).device) ? true : "not transitional",
    run: (ctx) => expect(ids(ctx).revision === 0, String(ids(ctx).revision), "0"),
  },
  {
    id: "pci.id.transitional-subsystem",
    section: "4.1.2.1",
    requirement: "a transitional device's PCI subsystem device ID is its virtio device type",
    applies: (ctx) => ctx.pci && transitional(ids(ctx).device) ? true : "not transitional",
    run: (ctx) =>
      expect(ids(ctx).subsystem === ctx.deviceType, hex(ids(ctx).subsystem), hex(ctx.deviceType)),
  },
  {
    id: "pci.id.modern-revision",
    section: "4.1.2.1",
    requirement: "a non-transitional device (ID 0x1040..0x107f) has PCI revision 1 or higher",
    applies: (ctx) => ctx.pci && !transitional(ids(ctx).device) ? true : "transitional device",
    run: (ctx) => expect(ids(ctx).revision >= 1, String(ids(ctx).revision), ">= 1"),
  },
  capPresent("pci.cap.common", VIRTIO_PCI_CAP_COMMON_CFG, "common configuration", "4.1.4.3.1"),
  capPresent("pci.cap.notify", VIRTIO_PCI_CAP_NOTIFY_CFG, "notification", "4.1.4.4.1"),
  capPresent("pci.cap.isr", VIRTIO_PCI_CAP_ISR_CFG, "ISR status", "4.1.4.5.1"),
  capPresent("pci.cap.device", VIRTIO_PCI_CAP_DEVICE_CFG, "device configuration", "4.1.4.6.1"),
  capPresent("pci.cap.pci-cfg", VIRTIO_PCI_CAP_PCI_CFG, "PCI configuration access", "4.1.4.9.1"),
  {
    id: "pci.cap.device-length",
    section: "4.1.4.6",
    requirement:
      "the device configuration structure covers every field the offered features enable",
    applies: (ctx) => {
      const m = needsModernPci(ctx);
      if (m !== true) return m;
      if (!CONFIG_FIELDS[ctx.deviceType]) return "no field table for this device type";
      return firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_DEVICE_CFG) ? true : "no device capability";
    },
    run: (ctx) => {
      const cap = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_DEVICE_CFG)!;
      const need = neededConfig(ctx.deviceType, ctx.transport.deviceFeatures());
      return expect(cap.length >= BigInt(need), `${cap.length} bytes`, `>= ${need}`);
    },
  },
  findingCheck(
    "pci.cap.length",
    "every virtio capability's cap_len covers its structure (16, notify 20, shared memory 24)",
    /cap_len/,
  ),
  findingCheck(
    "pci.cap.in-bar",
    "every structure a capability points to lies inside its BAR (offset + length, no wrap)",
    /outside BAR|wraps/,
  ),
  findingCheck(
    "pci.cap.bar-implemented",
    "every capability names a BAR the device implements",
    /not implemented/,
  ),
  {
    id: "pci.common.length",
    section: "4.1.4.3",
    requirement: "the common configuration structure is at least 0x38 bytes long",
    applies: needsModernPci,
    run: (ctx) => {
      const cap = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_COMMON_CFG)!;
      return expect(cap.length >= 0x38n, hex(cap.length), ">= 0x38");
    },
  },
  {
    id: "pci.notify.multiplier",
    section: "4.1.4.4.1",
    requirement: "notify_off_multiplier is 0 or an even power of 2",
    applies: needsModernPci,
    run: (ctx) => {
      const m = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_NOTIFY_CFG)?.notifyOffMultiplier;
      if (m === undefined) return fail("no notify capability", "a multiplier");
      const ok = m === 0 || (m >= 2 && (m & (m - 1)) === 0);
      return expect(ok, String(m), "0, 2, 4, 8 ...");
    },
  },
  {
    id: "pci.notify.covers-queues",
    section: "4.1.4.4.1",
    requirement:
      "the notify structure is long enough for every queue: length >= queue_notify_off * multiplier + 2 (4 with NOTIFICATION_DATA)",
    applies: needsModernPci,
    run: (ctx) => {
      const cap = firstCap(ctx.pci!.caps, VIRTIO_PCI_CAP_NOTIFY_CFG);
      if (!cap) return fail("no notify capability", "one");
      const width = has(ctx.transport.deviceFeatures(), VIRTIO_F_NOTIFICATION_DATA) ? 4 : 2;
      const n = ctx.transport.numQueues();
      for (let q = 0; q < n; q++) {
        const off = withQueue(ctx, q, (c) => c.read16(COMMON_CFG.queue_notify_off));
        const need = off * (cap.notifyOffMultiplier ?? 0) + width;
        if (BigInt(need) > cap.length) {
          return fail(
            `queue ${q} needs ${hex(need)}, length ${hex(cap.length)}`,
            `>= ${hex(need)}`,
          );
        }
      }
      return pass(`${n} queues`);
    },
  },
  {
    id: "pci.cfg-window.read",
    section: "4.1.4.9.1",
    requirement: "a read through the PCI configuration access window returns the BAR's data",
    applies: needsPciCfgWindow,
    run: (ctx) => {
      const through = commonThroughWindow(ctx, false).read16(COMMON_CFG.num_queues);
      const direct = commonCfg(ctx).read16(COMMON_CFG.num_queues);
      return expect(through === direct, `window ${hex(through)}`, `BAR ${hex(direct)}`);
    },
  },
  {
    id: "pci.cfg-window.write",
    section: "4.1.4.9.1",
    requirement: "a write through the PCI configuration access window reaches the BAR",
    applies: needsPciCfgWindow,
    run: (ctx) => {
      const c = commonCfg(ctx);
      c.write16(COMMON_CFG.queue_select, 0);
      commonThroughWindow(ctx, true).write16(COMMON_CFG.queue_select, 1);
      const seen = c.read16(COMMON_CFG.queue_select);
      c.write16(COMMON_CFG.queue_select, 0);
      return expect(seen === 1, `queue_select ${seen}`, "1");
    },
  },
  {
    id: "pci.common.device-feature-stable",
    section: "4.1.4.3.1",
    requirement: "device_feature presents the same offered bits on every read of a word",
    applies: needsModernPci,
    run: (ctx) => {
      const a = ctx.transport.deviceFeatures();
      const b = ctx.transport.deviceFeatures();
      return expect(a === b, `${hex(a)} then ${hex(b)}`, "equal reads");
    },
  },
  {
    id: "pci.common.driver-feature-readback",
    section: "4.1.4.3.1",
    requirement: "driver_feature presents the valid (offered) bits the driver wrote",
    applies: needsModernPci,
    run: (ctx) => {
      const offered = ctx.transport.deviceFeatures();
      ctx.transport.setStatus(1);
      ctx.transport.setStatus(3);
      ctx.transport.setDriverFeatures(offered);
      const c = commonCfg(ctx);
      let back = 0n;
      for (let w = 0; w < 4; w++) {
        c.write32(COMMON_CFG.driver_feature_select, w);
        back |= BigInt(c.read32(COMMON_CFG.driver_feature)) << BigInt(32 * w);
      }
      return expect((back & offered) === offered, hex(back), hex(offered));
    },
  },
  {
    id: "pci.common.num-queues",
    section: "4.1.4.3",
    requirement: "num_queues is at least the number of queues the device type requires",
    applies: (ctx) => MIN_QUEUES[ctx.deviceType] ? true : "no known minimum for this type",
    run: (ctx) => {
      const n = ctx.transport.numQueues();
      const min = MIN_QUEUES[ctx.deviceType]!;
      return expect(n >= min && n <= 0xffff, String(n), `>= ${min}`);
    },
  },
  {
    id: "pci.common.queue-size-unavailable",
    section: "4.1.4.3.1",
    requirement: "queue_size reads 0 when queue_select names a queue that does not exist",
    applies: needsModernPci,
    run: (ctx) => {
      const n = ctx.transport.numQueues();
      const size = withQueue(ctx, n, (c) => c.read16(COMMON_CFG.queue_size));
      return expect(size === 0, `queue ${n}: ${size}`, "0");
    },
  },
  {
    id: "pci.common.queue-size-pow2",
    section: "4.1.4.3.1",
    requirement: "without RING_PACKED, queue_size is 0 or a power of 2 for every queue",
    applies: needsModernPci,
    run: (ctx) => {
      const n = ctx.transport.numQueues();
      for (let q = 0; q < n; q++) {
        const s = withQueue(ctx, q, (c) => c.read16(COMMON_CFG.queue_size));
        if (s & (s - 1)) return fail(`queue ${q}: ${s}`, "0 or a power of 2");
      }
      return pass(`${n} queues`);
    },
  },
  {
    id: "pci.common.queue-size-writable",
    section: "4.1.4.3",
    requirement: "the driver can reduce queue_size: a smaller power of 2 written reads back",
    applies: needsModernPci,
    run: (ctx) => {
      negotiate(ctx);
      const max = withQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_size));
      if (max < 2) return fail(String(max), "a queue 0 of at least 2 entries");
      const want = max & (max - 1) ? 1 << (31 - Math.clz32(max)) : max / 2;
      const seen = withQueue(ctx, 0, (c) => {
        c.write16(COMMON_CFG.queue_size, want);
        return c.read16(COMMON_CFG.queue_size);
      });
      return expect(seen === want, String(seen), String(want));
    },
  },
  {
    id: "pci.common.queue-size-reset",
    section: "4.1.4.3",
    requirement: "after a reset, queue_size presents the maximum again",
    applies: needsModernPci,
    run: (ctx) => {
      negotiate(ctx);
      const max = withQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_size));
      if (max < 2) return fail(String(max), "a queue 0 of at least 2 entries");
      withQueue(ctx, 0, (c) => c.write16(COMMON_CFG.queue_size, 1 << (31 - Math.clz32(max - 1))));
      ctx.transport.reset();
      const seen = withQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_size));
      return expect(seen === max, String(seen), String(max));
    },
  },
  {
    id: "pci.common.queue-size-packed-any",
    section: "4.1.4.3",
    requirement: "with RING_PACKED offered, a queue_size that is not a power of 2 can be written",
    applies: (ctx) => {
      const m = needsModernPci(ctx);
      return m === true ? needsFeature(ctx, VIRTIO_F_RING_PACKED, "RING_PACKED") : m;
    },
    run: (ctx) => {
      // §4.1.4.3.1: only with RING_PACKED negotiated may queue_size be other than a power of 2.
      negotiate(ctx, 1n << VIRTIO_F_RING_PACKED);
      const max = withQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_size));
      if (max < 4) return fail(String(max), "a queue 0 of at least 4 entries");
      const want = max - 1;
      const seen = withQueue(ctx, 0, (c) => {
        c.write16(COMMON_CFG.queue_size, want);
        return c.read16(COMMON_CFG.queue_size);
      });
      return expect(seen === want, String(seen), String(want));
    },
  },
];
