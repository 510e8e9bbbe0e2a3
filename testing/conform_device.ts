/**
 * A simulated virtio PCI device for `virtio conform`'s unit tests: the modern register fake
 * of fake_virtio_pci.ts extended (by subclassing, so the shared fake is unchanged) with what
 * a conformance check observes — MSI-X vector read-back, driver_feature read-back, queue
 * size restored on reset, an ISR that sets when the device would interrupt, and queues the
 * device serves when notified (net tx/ctrl, blk, rng, console tx). A correct one passes
 * every check; each entry of `faults` breaks exactly one rule, so each check can be seen to
 * fail (a mutation per check).
 *
 * @module
 */
import type { RegisterRegion } from "../lib/pci/region.ts";
import { COMMON_CFG } from "../lib/virtio/constants.ts";
import { ModernTransport } from "../lib/virtio/modern_transport.ts";
import { featureViolations } from "../lib/diag/feature_rules.ts";
import { type ConformContext, pciView } from "../lib/conform/context.ts";
import { FakeModernBar } from "./fake_virtio_pci.ts";
import { FakeDma } from "./fake_dma.ts";
import { WindowedConfigSpace } from "./fake_pci_cfg.ts";
import { type SimBuffer, SimProtocolError, SimQueue } from "./sim_device.ts";
import { holdsBuffers, serveRequest } from "./conform_serve.ts";
import type { ConformFault } from "./conform_faults.ts";

export type { ConformFault } from "./conform_faults.ts";

/** The simulated device: type, offered features, queue sizes, config bytes, PCI ids, faults. */
export interface ConformSimOptions {
  /** Virtio device type (default 1, net). */
  readonly deviceType?: number;
  /** Offered features (default: a QEMU-like set for the type). */
  readonly features?: bigint;
  /** Max size per queue. */
  readonly queueSizes?: number[];
  /** Device-specific configuration bytes. */
  readonly config?: Uint8Array;
  /** PCI ids (default modern 0x1040 + type, revision 1). */
  readonly ids?: { vendor?: number; device?: number; subsystemDevice?: number; revision?: number };
  /** Broken rules. */
  readonly faults?: readonly ConformFault[];
  /** Disk sectors (blk, default 128). */
  readonly sectors?: number;
}

const bit = (...bits: number[]) => bits.reduce((a, b) => a | (1n << BigInt(b)), 0n);
/** Ring features every sim offers: INDIRECT, EVENT_IDX, VERSION_1, RING_PACKED, IN_ORDER, RING_RESET. */
const RING = bit(28, 29, 32, 34, 35, 40);
const DEFAULTS: Record<number, { features: bigint; queues: number[]; config: () => Uint8Array }> = {
  // net: CSUM, MTU, MAC, STATUS, CTRL_VQ, CTRL_RX, CTRL_VLAN, CTRL_RX_EXTRA, CTRL_MAC_ADDR
  1: {
    features: RING | bit(0, 3, 5, 16, 17, 18, 19, 20, 23),
    queues: [256, 256, 64],
    config: netConfig,
  },
  2: { features: RING | bit(2, 6, 9, 13, 14), queues: [128], config: () => blkConfig(128) },
  3: { features: RING, queues: [64, 64], config: () => new Uint8Array(12) },
  4: { features: RING, queues: [64], config: () => new Uint8Array(0) },
};

/** The features a simulated device of `type` offers by default. */
export function simFeatures(type: number): bigint {
  return DEFAULTS[type]?.features ?? RING;
}

/** The default device configuration of a simulated device of `type`, edited by `edit`. */
export function simConfig(type: number, edit: (v: DataView) => void = () => {}): Uint8Array {
  const c = DEFAULTS[type]?.config() ?? new Uint8Array(0);
  edit(new DataView(c.buffer));
  return c;
}

function netConfig(): Uint8Array {
  const c = new Uint8Array(24);
  const v = new DataView(c.buffer);
  c.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  v.setUint16(6, 1, true); // LINK_UP
  v.setUint16(8, 1, true);
  v.setUint16(10, 1500, true);
  v.setUint32(12, 0xffffffff, true);
  c[16] = 0xff;
  c[17] = 40;
  v.setUint16(18, 128, true);
  return c;
}

/** virtio_blk_config (§5.2.4) for `sectors` 512-byte sectors. */
export function blkConfig(sectors: number): Uint8Array {
  const c = new Uint8Array(60);
  const v = new DataView(c.buffer);
  v.setBigUint64(0, BigInt(sectors), true);
  v.setUint32(12, 126, true); // seg_max
  v.setUint32(20, 512, true); // blk_size
  v.setUint16(34, 1, true); // num_queues
  v.setUint32(36, 1024, true); // max_discard_sectors
  v.setUint32(40, 1, true); // max_discard_seg
  v.setUint32(44, 1, true);
  v.setUint32(48, 1024, true); // max_write_zeroes_sectors
  v.setUint32(52, 1, true);
  return c;
}

/** The register fake with conformance-relevant behaviour and its faults. */
export class ConformBar extends FakeModernBar {
  readonly faults: ReadonlySet<ConformFault>;
  readonly dma: FakeDma;
  readonly maxSizes: number[];
  readonly disk: Uint8Array;
  #drs = 0;
  #configVector = 0xffff;
  readonly #queueVectors: number[];
  #sims: (SimQueue | undefined)[] = [];
  #featureReads = 0;
  #failed = false;
  readonly #queueWasReset = new Set<number>();
  #inits = 0;
  readonly #msixEntries: number;
  /** A ring error was met; cleared by a reset (§2.1.1). */
  #broken = false;
  /** A holding queue (net/console receive) was kicked since the last reset. */
  #held = false;
  /** Fault reset-inflight-hangs: the device serves nothing any more. */
  #hung = false;
  /** Fault reset-drains-old-ring: the queues of before the last reset. */
  #stale: (SimQueue | undefined)[] = [];

  constructor(o: ConformSimOptions, dma: FakeDma, msixEntries: number) {
    const type = o.deviceType ?? 1;
    const d = DEFAULTS[type] ?? { features: RING, queues: [64], config: () => new Uint8Array(0) };
    const faults = new Set(o.faults ?? []);
    const features = o.features ?? d.features;
    super({
      deviceType: type,
      features,
      queueSizes: [...(o.queueSizes ?? d.queues)],
      config: o.config ?? (type === 2 && o.sectors ? blkConfig(o.sectors) : d.config()),
      resetLatencyReads: faults.has("reset-never-completes") ? Infinity : 0,
      unstableGeneration: faults.has("generation-unstable"),
      acceptFeatures: (f) => this.#accept(f),
    });
    this.faults = faults;
    this.dma = dma;
    this.maxSizes = this.state.queues.map((q) => q.size);
    this.#queueVectors = this.maxSizes.map(() => 0xffff);
    this.#msixEntries = msixEntries;
    this.disk = type === 2
      ? new Uint8Array(512 * Number(new DataView(this.config.buffer).getBigUint64(0, true)))
      : new Uint8Array(0);
  }

  get offered(): bigint {
    return this.options.features ?? 0n;
  }

  #accept(f: bigint): boolean {
    if (this.faults.has("features-ok-valid-rejected")) return false;
    if (this.faults.has("reinit-refused") && ++this.#inits > 1) return false;
    // §2.2.2: a device fails FEATURES_OK for a subset it cannot work with.
    if ((f & ~this.offered) && !this.faults.has("features-ok-unoffered-accepted")) return false;
    const broken = featureViolations(this.state.o.deviceType ?? 0, f).length > 0;
    return !broken || this.faults.has("features-ok-dependency-accepted");
  }

  #reset() {
    if (!this.faults.has("msix-config-not-unmapped")) this.#configVector = 0xffff;
    if (!this.faults.has("msix-queue-not-unmapped")) this.#queueVectors.fill(0xffff);
    this.state.queues.forEach((q, i) => {
      if (!this.faults.has("queue-size-sticky")) q.size = this.maxSizes[i]!;
    });
    const f = this.faults;
    // §2.4.1: after a reset the device does not touch the old rings and sends nothing.
    if (f.has("reset-drains-old-ring")) {
      const n = Math.max(this.#sims.length, this.#stale.length);
      this.#stale = Array.from({ length: n }, (_, i) => this.#sims[i] ?? this.#stale[i]);
    }
    this.#sims = [];
    this.#queueWasReset.clear();
    if (!f.has("reset-keeps-isr")) this.isr = 0;
    if (!f.has("needs-reset-sticky")) this.#broken = false;
    if (this.#held && f.has("reset-inflight-hangs")) this.#hung = true;
    this.#held = false;
  }

  protected override read(o: number, w: number): number {
    const s = this.state;
    const f = this.faults;
    if (o >= 0x2000 && o < 0x3000 && f.has("config-drift")) {
      const at = o - 0x2000;
      if (at === 0) this.config[0] = (this.config[0]! + 1) & 0xff;
    }
    if (o >= 0x1000 && o < 0x2000 && f.has("isr-sticky")) return this.isr;
    if (o === COMMON_CFG.device_status && f.has("failed-sticky") && this.#failed) return 0x80;
    switch (o) {
      case COMMON_CFG.device_feature: {
        const v = super.read(o, w);
        return f.has("feature-unstable") && ++this.#featureReads % 3 === 0 ? v ^ 1 : v;
      }
      case COMMON_CFG.driver_feature:
        if (f.has("driver-feature-no-readback")) return 0;
        return Number((s.driverFeatures >> BigInt(32 * this.#drs)) & 0xffff_ffffn);
      case COMMON_CFG.config_msix_vector:
        return this.#configVector;
      case COMMON_CFG.device_feature_select:
        return f.has("select-no-readback") ? 0 : super.read(o, w);
      case COMMON_CFG.driver_feature_select:
        return f.has("select-no-readback") ? 0 : this.#drs;
      case COMMON_CFG.queue_select:
        return f.has("queue-select-no-readback") ? 0 : s.queueSelect;
      case COMMON_CFG.queue_desc:
      case COMMON_CFG.queue_desc + 4:
      case COMMON_CFG.queue_driver:
      case COMMON_CFG.queue_driver + 4:
      case COMMON_CFG.queue_device:
      case COMMON_CFG.queue_device + 4: {
        const q = s.queues[s.queueSelect];
        if (!q || f.has("queue-address-no-readback")) return 0;
        const field = o < COMMON_CFG.queue_driver
          ? q.desc
          : o < COMMON_CFG.queue_device
          ? q.driver
          : q.device;
        return (o - COMMON_CFG.queue_desc) % 8 ? Math.floor(field / 2 ** 32) : field >>> 0;
      }
      case COMMON_CFG.queue_msix_vector:
        return this.#queueVectors[s.queueSelect] ?? 0xffff;
      case COMMON_CFG.queue_size:
        if (s.queueSelect >= s.queues.length) {
          return f.has("queue-size-unavailable-nonzero") ? 256 : 0;
        }
        return super.read(o, w);
      case COMMON_CFG.queue_enable:
        return f.has("queue-enable-no-readback") ? 0 : super.read(o, w);
      case COMMON_CFG.queue_reset:
        return f.has("queue-reset-stuck") ? 1 : 0;
      case COMMON_CFG.device_status: {
        const v = super.read(o, w);
        return f.has("status-no-readback") ? v & ~2 : v;
      }
    }
    return super.read(o, w);
  }

  protected override write(o: number, w: number, v: number): void {
    const s = this.state;
    const f = this.faults;
    if (o >= 0x2000 && o < 0x3000) {
      if (f.has("config-writable")) this.config[o - 0x2000] = v & 0xff;
      return;
    }
    if (o >= 0x3000) {
      super.write(o, w, v);
      this.#serve((o - 0x3000) / this.notifyMultiplier);
      return;
    }
    switch (o) {
      case COMMON_CFG.driver_feature_select:
        this.#drs = v;
        break;
      case COMMON_CFG.config_msix_vector:
        if (!f.has("msix-config-no-readback")) this.#configVector = this.#vector(v);
        return;
      case COMMON_CFG.queue_msix_vector:
        if (!f.has("msix-queue-no-readback") && s.queueSelect < this.#queueVectors.length) {
          if (f.has("msix-vector-shared")) this.#queueVectors.fill(this.#vector(v));
          else this.#queueVectors[s.queueSelect] = this.#vector(v);
        }
        return;
      case COMMON_CFG.queue_size:
        if (f.has("queue-size-no-readback")) return;
        break;
      case COMMON_CFG.device_status:
        if (v === 0) {
          const enabled = s.queues.map((q) => q.enabled);
          super.write(o, w, v);
          this.#reset();
          if (f.has("queue-enable-no-reset")) s.queues.forEach((q, i) => (q.enabled = enabled[i]!));
          return;
        }
        super.write(o, w, v);
        if (v & 0x80) this.#failed = true;
        if ((v & 4) && this.#broken) s.needsReset();
        if ((v & 4) && f.has("needs-reset-spurious")) s.needsReset();
        if ((v & 4) && f.has("config-interrupt-at-driver-ok")) this.isr |= 2;
        return;
      case COMMON_CFG.queue_enable:
        super.write(o, w, v);
        if (v === 1 && !(f.has("queue-reset-dead") && this.#queueWasReset.has(s.queueSelect))) {
          this.#attach(s.queueSelect);
        }
        return;
      case COMMON_CFG.queue_reset: {
        // §4.1.4.3.1: a 1 resets the selected queue; 0 in queue_reset and queue_enable after.
        const q = s.queues[s.queueSelect];
        if (v !== 1 || !q) return;
        this.#queueWasReset.add(s.queueSelect);
        if (!f.has("queue-reset-keeps-enable")) q.enabled = false;
        this.#sims[s.queueSelect] = undefined;
        q.size = this.maxSizes[s.queueSelect]!;
        return;
      }
    }
    super.write(o, w, v);
  }

  #vector(v: number): number {
    if (v === 0xffff) return this.faults.has("msix-unmap-ignored") ? this.#configVector : v;
    // §4.1.5.1.2: a mapping the device cannot make reads back as NO_VECTOR.
    if (v >= this.#msixEntries && !this.faults.has("msix-out-of-range-accepted")) return 0xffff;
    return v;
  }

  #attach(i: number) {
    const q = this.state.queues[i];
    if (!q) return;
    const df = this.state.driverFeatures;
    const sim = new SimQueue(this.dma, {
      format: (df >> 34n) & 1n ? "packed" : "split",
      size: q.size,
      eventIdx: ((df >> 29n) & 1n) === 1n,
    });
    sim.attach({ desc: q.desc, driver: q.driver, device: q.device });
    this.#sims[i] = sim;
  }

  #serve(i: number) {
    const sim = this.#sims[i];
    if (!sim || !this.state.queues[i]?.enabled) return;
    // §2.1.2: no buffer is used before DRIVER_OK.
    if (!(this.state.status & 4) && !this.faults.has("serve-before-driver-ok")) return;
    if (this.#hung || this.#broken) return;
    if (holdsBuffers(this.state.o.deviceType ?? 0, i, this.state.queues.length)) {
      this.#held = true;
      return;
    }
    const f = this.faults;
    const stale = this.#stale[i];
    if (stale) {
      this.#stale[i] = undefined;
      for (const b of stale.take()) stale.complete(b, 0);
      stale.publish();
    }
    let bufs: SimBuffer[];
    try {
      bufs = sim.take();
    } catch (e) {
      if (!(e instanceof SimProtocolError)) throw e;
      // §2.1.2: an error the device cannot recover from without a reset: DEVICE_NEEDS_RESET.
      this.#broken = true;
      if (!f.has("error-no-needs-reset")) this.state.needsReset();
      return;
    }
    if (f.has("drop-buffers")) return;
    if (f.has("no-indirect")) {
      bufs = bufs.filter((b) => !(b.descCount === 1 && b.out.length + b.in.length > 1));
    }
    if (f.has("chain-limit")) bufs = bufs.filter((b) => b.descCount <= 8);
    if (f.has("out-of-order")) bufs.reverse();
    for (const b of bufs) {
      const len = serveRequest(this, i, b);
      if (f.has("write-readable")) b.out[0]?.fill(0xee);
      if (f.has("used-id-bad")) sim.writeUsed(sim.size + 1, len);
      else sim.complete(b, f.has("used-len-overflow") ? b.writableLen + 64 : len);
      if (f.has("used-twice")) sim.complete(b, len);
    }
    const need = sim.publish();
    if ((need && !f.has("no-interrupt")) || (bufs.length && f.has("ignore-suppression"))) {
      this.isr |= 1;
    }
  }
}

/** A device context over a {@link ConformBar}: config space, caps, window, transport, DMA. */
export function conformSim(o: ConformSimOptions = {}): ConformContext & { bar: ConformBar } {
  const type = o.deviceType ?? 1;
  const dma = new FakeDma();
  const bar = new ConformBar(o, dma, 4);
  const f = new Set(o.faults ?? []);
  const bars = new Map<number, RegisterRegion>([[4, bar]]);
  const cs = new WindowedConfigSpace(bars);
  cs.header({
    vendor: o.ids?.vendor ?? 0x1af4,
    device: o.ids?.device ?? 0x1040 + type,
    subsystemDevice: o.ids?.subsystemDevice ?? (o.ids?.device ?? 0x1040 + type),
    revision: o.ids?.revision ?? 1,
  });
  cs.addMsix(4, { bar: 1, tableOffset: 0 });
  for (const c of bar.caps()) {
    const missing = { 1: "no-common-cap", 2: "no-notify-cap", 3: "no-isr-cap", 4: "no-device-cap" }[
      c.cfgType as 1 | 2 | 3 | 4
    ] as ConformFault;
    if (f.has(missing)) continue;
    let length = Number(c.length);
    let offset = Number(c.offset);
    let barIndex = c.bar;
    if (c.cfgType === 1 && f.has("common-short")) length = 0x30;
    if (c.cfgType === 3 && f.has("cap-outside-bar")) offset = 0x3f00;
    if (c.cfgType === 4 && f.has("cap-bar-unimplemented")) barIndex = 2;
    if (c.cfgType === 2 && f.has("notify-too-short")) length = 2;
    if (c.cfgType === 4 && f.has("device-cap-short")) length = 4;
    cs.addVirtioCap({
      cfgType: c.cfgType,
      bar: barIndex,
      offset,
      length,
      ...(c.cfgType === 2
        ? { notifyOffMultiplier: f.has("notify-mult-odd") ? 3 : bar.notifyMultiplier }
        : {}),
    });
  }
  if (f.has("short-cap-len")) cs.addCapability(0x09, [12, 9, 4, 0, 0, 0, 0, 0, 0, 0]);
  if (!f.has("no-pci-cfg-cap")) cs.addPciCfgCap();
  cs.broken = f.has("window-broken");
  const keep = (): RegisterRegion & Disposable => ({
    length: bar.length,
    read8: (x) => bar.read8(x),
    read16: (x) => bar.read16(x),
    read32: (x) => bar.read32(x),
    write8: (x, v) => bar.write8(x, v),
    write16: (x, v) => bar.write16(x, v),
    write32: (x, v) => bar.write32(x, v),
    [Symbol.dispose]: () => {},
  });
  const barSizes = new Map([[1, 0x1000], [4, bar.length]]);
  const transport = new ModernTransport({ deviceType: type, caps: bar.caps(), openBar: keep });
  return {
    address: "sim",
    deviceType: type,
    transport,
    dma,
    pci: pciView(cs, barSizes, keep),
    // The simulated device works synchronously on notify: done now or never.
    wait: (done) => done(),
    log: () => {},
    bar,
  };
}
