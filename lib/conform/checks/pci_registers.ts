/**
 * Register semantics of the common configuration structure (VIRTIO 1.2 §4.1.4.3) and MSI-X
 * vector mapping (§4.1.5.1.2): fields read back what the driver wrote, reset restores the
 * reset values, vectors map, unmap and report failure as NO_VECTOR.
 *
 * @module
 */
import { type Check, expect, fail, hex, pass } from "../check.ts";
import { commonCfg, type ConformContext, needsModernPci, negotiate } from "../context.ts";
import { PCI_CAP_ID_MSIX, readMsix } from "../../pci/capabilities.ts";
import { COMMON_CFG } from "../../virtio/constants.ts";
import { exchange, startSession } from "../session.ts";
import { hasWorkload, workloadOf } from "./workload.ts";

const NO_VECTOR = 0xffff;

/** Selects `q` in the common config and runs `f` with the window. */
export function commonWithQueue<T>(
  ctx: ConformContext,
  q: number,
  f: (c: ReturnType<typeof commonCfg>) => T,
) {
  const c = commonCfg(ctx);
  c.write16(COMMON_CFG.queue_select, q);
  return f(c);
}

/** Sets queue 0 up on real ring memory (never address 0) and enables it; no DRIVER_OK. */
function enableQueue0(ctx: ConformContext): void {
  const size = commonWithQueue(ctx, 0, (c) => Math.min(c.read16(COMMON_CFG.queue_size), 64));
  const q = ctx.dma.alloc(0x3000, 4096);
  negotiate(ctx);
  ctx.transport.setupQueue(0, size, {
    desc: q.iova,
    driver: q.iova + 0x1000,
    device: q.iova + 0x2000,
  });
}

function msixTableSize(ctx: ConformContext): number | undefined {
  const cap = ctx.pci?.capabilities.find((c) => c.id === PCI_CAP_ID_MSIX);
  return cap ? readMsix(ctx.pci!.config, cap.offset).tableSize : undefined;
}
const needsMsix = (ctx: ConformContext) => {
  const m = needsModernPci(ctx);
  if (m !== true) return m;
  return msixTableSize(ctx) ? true : "no MSI-X capability";
};

/** Writes a 64-bit queue address field as two 32-bit halves and reads it back. */
function readBack64(c: ReturnType<typeof commonCfg>, off: number, v: number): number {
  c.write32(off, v >>> 0);
  c.write32(off + 4, Math.floor(v / 2 ** 32));
  return c.read32(off) + c.read32(off + 4) * 2 ** 32;
}

const READBACK: Check[] = [
  {
    id: "pci.isr.read-clears",
    section: "4.1.4.5.1",
    requirement:
      "the queue interrupt bit is set for a used buffer, and a read of ISR status resets it to 0",
    applies: hasWorkload,
    run: (ctx) => {
      const w = workloadOf(ctx);
      const s = startSession(ctx, { queues: [w.queue] });
      ctx.transport.readIsr();
      exchange(ctx, s.queue(w.queue), [w.request(0)]);
      let first = 0;
      ctx.wait(() => ((first = ctx.transport.readIsr()) & 1) !== 0, 500);
      if (!(first & 1)) return fail(`ISR ${hex(first)} after a used buffer`, "queue bit set");
      const second = ctx.transport.readIsr();
      return expect(second === 0, `${hex(first)} then ${hex(second)}`, "then 0x0");
    },
  },

  {
    id: "pci.common.feature-select-readback",
    section: "4.1.4.3",
    requirement: "device_feature_select and driver_feature_select read back what the driver wrote",
    applies: needsModernPci,
    run: (ctx) => {
      const c = commonCfg(ctx);
      c.write32(COMMON_CFG.device_feature_select, 1);
      c.write32(COMMON_CFG.driver_feature_select, 1);
      const d = c.read32(COMMON_CFG.device_feature_select);
      const r = c.read32(COMMON_CFG.driver_feature_select);
      return expect(d === 1 && r === 1, `${d}, ${r}`, "1, 1");
    },
  },
  {
    id: "pci.common.queue-select-readback",
    section: "4.1.4.3",
    requirement: "queue_select reads back the queue the driver selected",
    applies: needsModernPci,
    run: (ctx) => {
      const n = ctx.transport.numQueues();
      const q = n > 1 ? 1 : 0;
      const seen = commonWithQueue(ctx, q, (c) => c.read16(COMMON_CFG.queue_select));
      return expect(seen === q, String(seen), String(q));
    },
  },
  {
    id: "pci.common.queue-address-readback",
    section: "4.1.4.3",
    requirement: "queue_desc, queue_driver and queue_device read back the addresses written",
    applies: needsModernPci,
    run: (ctx) => {
      const m = ctx.dma.alloc(0x3000, 4096);
      const want = [m.iova, m.iova + 0x1000, m.iova + 0x2000];
      const offs = [COMMON_CFG.queue_desc, COMMON_CFG.queue_driver, COMMON_CFG.queue_device];
      const seen = commonWithQueue(ctx, 0, (c) => offs.map((o, i) => readBack64(c, o, want[i]!)));
      const bad = seen.findIndex((v, i) => v !== want[i]);
      return bad < 0
        ? pass()
        : fail(`${["desc", "driver", "device"][bad]} ${hex(seen[bad]!)}`, hex(want[bad]!));
    },
  },
  {
    id: "pci.msix.per-queue",
    section: "4.1.4.3",
    requirement: "queue_msix_vector belongs to the selected queue: mapping queue 1 leaves queue 0",
    applies: (ctx) => {
      const m = needsMsix(ctx);
      if (m !== true) return m;
      return ctx.transport.numQueues() > 1 && msixTableSize(ctx)! > 1
        ? true
        : "one queue or vector";
    },
    run: (ctx) => {
      commonWithQueue(ctx, 0, (c) => c.write16(COMMON_CFG.queue_msix_vector, 0));
      commonWithQueue(ctx, 1, (c) => c.write16(COMMON_CFG.queue_msix_vector, 1));
      const v0 = commonWithQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_msix_vector));
      const v1 = commonWithQueue(ctx, 1, (c) => c.read16(COMMON_CFG.queue_msix_vector));
      return expect(v0 === 0 && v1 === 1, `${hex(v0)}, ${hex(v1)}`, "0x0, 0x1");
    },
  },
];

function registerChecks(): Check[] {
  const readBackQ = (ctx: ConformContext, v: number) =>
    commonWithQueue(ctx, 0, (c) => {
      c.write16(COMMON_CFG.queue_msix_vector, v);
      return c.read16(COMMON_CFG.queue_msix_vector);
    });
  const readBackC = (ctx: ConformContext, v: number) => {
    const c = commonCfg(ctx);
    c.write16(COMMON_CFG.config_msix_vector, v);
    return c.read16(COMMON_CFG.config_msix_vector);
  };
  return [
    {
      id: "pci.common.queue-enable-reset",
      section: "4.1.4.3.1",
      requirement: "queue_enable reads 0 after a reset, even for a queue that was enabled",
      applies: needsModernPci,
      run: (ctx) => {
        enableQueue0(ctx);
        ctx.transport.reset();
        const v = commonWithQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_enable));
        return expect(v === 0, String(v), "0");
      },
    },
    {
      id: "pci.common.queue-enable-readback",
      section: "4.1.4.3",
      requirement: "queue_enable reads 1 once the driver has enabled a configured queue",
      applies: needsModernPci,
      run: (ctx) => {
        enableQueue0(ctx);
        const v = commonWithQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_enable));
        return expect(v === 1, String(v), "1");
      },
    },
    {
      id: "pci.msix.config-unmapped-on-reset",
      section: "4.1.5.1.2.1",
      requirement: "after a reset the configuration change event is unmapped (NO_VECTOR)",
      applies: needsMsix,
      run: (ctx) => {
        readBackC(ctx, 0);
        ctx.transport.reset();
        const v = commonCfg(ctx).read16(COMMON_CFG.config_msix_vector);
        return expect(v === NO_VECTOR, hex(v), "0xffff");
      },
    },
    {
      id: "pci.msix.queue-unmapped-on-reset",
      section: "4.1.5.1.2.1",
      requirement: "after a reset every queue event is unmapped (NO_VECTOR)",
      applies: needsMsix,
      run: (ctx) => {
        readBackQ(ctx, 0);
        ctx.transport.reset();
        const v = commonWithQueue(ctx, 0, (c) => c.read16(COMMON_CFG.queue_msix_vector));
        return expect(v === NO_VECTOR, hex(v), "0xffff");
      },
    },
    {
      id: "pci.msix.config-map",
      section: "4.1.5.1.2.1",
      requirement: "config_msix_vector accepts a valid vector and reads it back",
      applies: needsMsix,
      run: (ctx) => {
        const v = readBackC(ctx, 0);
        return expect(v === 0, hex(v), "0x0");
      },
    },
    {
      id: "pci.msix.queue-map",
      section: "4.1.5.1.2.1",
      requirement: "queue_msix_vector accepts a valid vector and reads it back",
      applies: needsMsix,
      run: (ctx) => {
        const last = msixTableSize(ctx)! - 1;
        const v = readBackQ(ctx, last);
        return expect(v === last, hex(v), hex(last));
      },
    },
    {
      id: "pci.msix.unmap",
      section: "4.1.5.1.2.1",
      requirement: "writing NO_VECTOR unmaps an event: the field reads NO_VECTOR",
      applies: needsMsix,
      run: (ctx) => {
        readBackC(ctx, 0);
        const v = readBackC(ctx, NO_VECTOR);
        return expect(v === NO_VECTOR, hex(v), "0xffff");
      },
    },
    {
      id: "pci.msix.failure-reads-no-vector",
      section: "4.1.5.1.2.1",
      requirement:
        "a vector beyond the MSI-X table cannot be mapped, and the failure reads back as NO_VECTOR",
      applies: needsMsix,
      run: (ctx) => {
        const size = msixTableSize(ctx)!;
        if (size >= NO_VECTOR) return pass("table covers every vector");
        const v = readBackQ(ctx, size);
        return expect(v === NO_VECTOR, `wrote ${hex(size)}, read ${hex(v)}`, "0xffff");
      },
    },
  ];
}

/** The common-configuration register and MSI-X checks. */
export const PCI_REGISTER_CHECKS: readonly Check[] = [...registerChecks(), ...READBACK];
