/**
 * Register-level fakes of a virtio PCI device's BARs: the modern layout (common, ISR,
 * device and notify structures in one BAR, as QEMU lays them out) and the legacy I/O BAR.
 * They let the transports and the §3.1.1 sequence be tested, including faults a real
 * device rarely shows: FEATURES_OK refused, a reset that never completes, queue size 0,
 * DEVICE_NEEDS_RESET, a config generation that keeps moving.
 *
 * @module
 */
import type { RegisterRegion } from "../lib/pci/region.ts";
import type { VirtioPciCap } from "../lib/virtio/capabilities.ts";
import { COMMON_CFG, LEGACY } from "../lib/virtio/constants.ts";

/** How a fake device behaves: its type, offered features, queue sizes, config bytes and faults. */
export interface FakeDeviceOptions {
  /** Virtio device type (§5). */
  deviceType?: number;
  /** Offered feature bits. */
  features?: bigint;
  /** Max size per queue; index = queue number. */
  queueSizes?: number[];
  /** Return false to clear FEATURES_OK for this driver feature set. */
  acceptFeatures?: (driverFeatures: bigint) => boolean;
  /** Reads of device_status that still return the old value after a reset (Infinity: never). */
  resetLatencyReads?: number;
  /** Device-specific configuration bytes. */
  config?: Uint8Array;
  /** Bump config_generation on every read of it (an ever-changing config). */
  unstableGeneration?: boolean;
}

/** What the driver programmed into one queue (size, ring addresses, enable, MSI-X vector). */
export interface QueueProgram {
  /** Queue size: the device maximum until the driver writes another. */
  size: number;
  /** Descriptor area address as written by the driver. */
  desc: number;
  /** Driver (available) area address as written by the driver. */
  driver: number;
  /** Device (used) area address as written by the driver. */
  device: number;
  /** Whether the driver has enabled the queue. */
  enabled: boolean;
  /** MSI-X vector the driver assigned. */
  msixVector: number;
}

/** Base of the fake BARs: bounds-checked 8/16/32-bit accessors that record every write. */
export abstract class FakeBar implements RegisterRegion, Disposable {
  /** Size of the BAR in bytes. */
  abstract readonly length: number;
  /** Set once the BAR is closed; any later access throws. */
  disposed = false;
  /** Every write as [offset, width, value]. */
  readonly writes: [number, number, number][] = [];
  /** Reads `width` bytes at `offset` (already bounds-checked). */
  protected abstract read(offset: number, width: number): number;
  /** Writes `width` bytes at `offset` (already bounds-checked and recorded). */
  protected abstract write(offset: number, width: number, value: number): void;
  #check(o: number, w: number) {
    if (this.disposed) throw new Error("access to a closed BAR");
    if (o < 0 || o + w > this.length) throw new RangeError(`BAR access at ${o}+${w}`);
  }
  /** Reads one byte. */
  read8(o: number): number {
    this.#check(o, 1);
    return this.read(o, 1) & 0xff;
  }
  /** Reads a 16-bit register. */
  read16(o: number): number {
    this.#check(o, 2);
    return this.read(o, 2) & 0xffff;
  }
  /** Reads a 32-bit register. */
  read32(o: number): number {
    this.#check(o, 4);
    return this.read(o, 4) >>> 0;
  }
  /** Writes one byte. */
  write8(o: number, v: number) {
    this.#check(o, 1);
    this.writes.push([o, 1, v]);
    this.write(o, 1, v & 0xff);
  }
  /** Writes a 16-bit register. */
  write16(o: number, v: number) {
    this.#check(o, 2);
    this.writes.push([o, 2, v]);
    this.write(o, 2, v & 0xffff);
  }
  /** Writes a 32-bit register. */
  write32(o: number, v: number) {
    this.#check(o, 4);
    this.writes.push([o, 4, v]);
    this.write(o, 4, v >>> 0);
  }
  /** Closes the BAR: later accesses throw. */
  [Symbol.dispose]() {
    this.disposed = true;
  }
}

/** Shared device state behind both register layouts. */
export class DeviceState {
  /** The device status byte (§2.1). */
  status = 0;
  /** Feature bits the driver wrote. */
  driverFeatures = 0n;
  /** The selected queue (`queue_select`). */
  queueSelect = 0;
  /** `config_generation` value. */
  generation = 0;
  /** Reads of device_status that still return the old status after a reset. */
  resetReadsLeft = 0;
  /** Per-queue programming, index = queue number. */
  readonly queues: QueueProgram[];
  /** Queue indices in the order they were notified (with the 32-bit data when used). */
  readonly notifications: { queue: number; data?: number }[] = [];
  /** Makes the queues from `o.queueSizes` (default two of 256), all disabled. */
  constructor(readonly o: FakeDeviceOptions) {
    this.queues = (o.queueSizes ?? [256, 256]).map((size) => ({
      size,
      desc: 0,
      driver: 0,
      device: 0,
      enabled: false,
      msixVector: 0,
    }));
  }
  /** Reads device_status; a reset completes only after `resetLatencyReads` reads. */
  readStatus(): number {
    if (this.resetReadsLeft > 0) {
      this.resetReadsLeft--;
      return this.status;
    }
    if (this.pendingReset) {
      this.pendingReset = false;
      this.status = 0;
    }
    return this.status;
  }
  /** A reset was written and has not been seen to complete yet. */
  pendingReset = false;
  /** Writes device_status: 0 resets; a newly set FEATURES_OK is refused if `acceptFeatures` says no. */
  writeStatus(v: number) {
    if (v === 0) {
      this.resetReadsLeft = this.o.resetLatencyReads ?? 0;
      this.pendingReset = true;
      if (this.resetReadsLeft === 0) this.readStatus();
      this.driverFeatures = 0n;
      this.queues.forEach((q) => (q.enabled = false));
      return;
    }
    // FEATURES_OK (8) newly set: the device decides whether it can live with the subset.
    if ((v & 8) && !(this.status & 8)) {
      const ok = this.o.acceptFeatures?.(this.driverFeatures) ?? true;
      if (!ok) v &= ~8;
    }
    this.status = v;
  }
  /** The device signals it needs a reset (§2.1.1). */
  needsReset() {
    this.status |= 64;
  }
}

/** A modern device's memory BAR: common 0x0000, ISR 0x1000, device 0x2000, notify 0x3000. */
export class FakeModernBar extends FakeBar {
  /** The BAR size: four 0x1000-byte structures. */
  readonly length = 0x4000;
  /** Device state shared by the registers. */
  readonly state: DeviceState;
  /** `notify_off_multiplier` of the notify capability. */
  readonly notifyMultiplier = 4;
  readonly #deviceFeatureSelect = { v: 0 };
  readonly #driverFeatureSelect = { v: 0 };
  /** Device-specific configuration bytes. */
  readonly config: Uint8Array;
  /** The ISR status byte; reading it through the BAR clears it (§4.1.4.5). */
  isr = 0;

  /** Makes a modern BAR over a fresh device state. */
  constructor(readonly options: FakeDeviceOptions = {}) {
    super();
    this.state = new DeviceState(options);
    this.config = options.config ?? new Uint8Array(64);
  }

  /** The capabilities a real device would list for this layout. */
  caps(bar = 4): VirtioPciCap[] {
    const cap = (cfgType: number, typeName: string, offset: number, length: number) => ({
      capOffset: 0x40 + cfgType * 0x10,
      cfgType,
      typeName,
      bar,
      id: 0,
      offset: BigInt(offset),
      length: BigInt(length),
      capLength: cfgType === 2 ? 20 : 16,
      ...(cfgType === 2 ? { notifyOffMultiplier: this.notifyMultiplier } : {}),
    });
    return [
      cap(1, "common", 0x0000, 0x1000),
      cap(3, "isr", 0x1000, 0x1000),
      cap(4, "device", 0x2000, 0x1000),
      cap(2, "notify", 0x3000, 0x1000),
    ];
  }

  /** Register read in the modern layout. */
  protected read(o: number, w: number): number {
    const s = this.state;
    if (o >= 0x3000) return 0;
    if (o >= 0x2000) {
      const at = o - 0x2000;
      let v = 0;
      for (let i = 0; i < w; i++) v |= (this.config[at + i] ?? 0) << (8 * i);
      return v;
    }
    if (o >= 0x1000) {
      const v = this.isr;
      this.isr = 0; // §4.1.4.5: reading the ISR clears it
      return v;
    }
    const q = s.queues[s.queueSelect];
    switch (o) {
      case COMMON_CFG.device_feature_select:
        return this.#deviceFeatureSelect.v;
      case COMMON_CFG.device_feature:
        return Number(
          ((this.options.features ?? 0n) >> BigInt(32 * this.#deviceFeatureSelect.v)) &
            0xffff_ffffn,
        );
      case COMMON_CFG.num_queues:
        return s.queues.length;
      case COMMON_CFG.device_status:
        return s.readStatus();
      case COMMON_CFG.config_generation:
        return this.options.unstableGeneration ? ++s.generation & 0xff : s.generation;
      case COMMON_CFG.queue_select:
        return s.queueSelect;
      case COMMON_CFG.queue_size:
        return q?.size ?? 0;
      case COMMON_CFG.queue_enable:
        return q?.enabled ? 1 : 0;
      case COMMON_CFG.queue_notify_off:
        return s.queueSelect;
      default:
        return 0;
    }
  }

  /** Register write in the modern layout; notify writes are recorded in `state.notifications`. */
  protected write(o: number, w: number, v: number): void {
    const s = this.state;
    if (o >= 0x3000) {
      const index = (o - 0x3000) / this.notifyMultiplier;
      s.notifications.push(
        w === 4 ? { queue: v & 0xffff, data: v >>> 16 } : { queue: v },
      );
      if (w !== 4 && v !== index) throw new Error(`notify of queue ${v} at queue ${index}'s slot`);
      return;
    }
    if (o >= 0x1000) return;
    const q = s.queues[s.queueSelect];
    const set64 = (field: "desc" | "driver" | "device", high: boolean) => {
      if (!q) return;
      const lo = q[field] % 2 ** 32;
      const hi = Math.floor(q[field] / 2 ** 32);
      q[field] = high ? lo + v * 2 ** 32 : hi * 2 ** 32 + v;
    };
    switch (o) {
      case COMMON_CFG.device_feature_select:
        this.#deviceFeatureSelect.v = v;
        return;
      case COMMON_CFG.driver_feature_select:
        this.#driverFeatureSelect.v = v;
        return;
      case COMMON_CFG.driver_feature: {
        const shift = BigInt(32 * this.#driverFeatureSelect.v);
        s.driverFeatures = (s.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(v) << shift);
        return;
      }
      case COMMON_CFG.device_status:
        s.writeStatus(v);
        return;
      case COMMON_CFG.queue_select:
        s.queueSelect = v;
        return;
      case COMMON_CFG.queue_size:
        if (q) q.size = v;
        return;
      case COMMON_CFG.queue_msix_vector:
        if (q) q.msixVector = v;
        return;
      case COMMON_CFG.queue_enable:
        if (q) q.enabled = v === 1;
        return;
      case COMMON_CFG.queue_desc:
      case COMMON_CFG.queue_desc + 4:
        return set64("desc", o !== COMMON_CFG.queue_desc);
      case COMMON_CFG.queue_driver:
      case COMMON_CFG.queue_driver + 4:
        return set64("driver", o !== COMMON_CFG.queue_driver);
      case COMMON_CFG.queue_device:
      case COMMON_CFG.queue_device + 4:
        return set64("device", o !== COMMON_CFG.queue_device);
    }
  }
}

/** A legacy device's I/O BAR 0 (§4.1.4.8), device config after the 20-byte header. */
export class FakeLegacyBar extends FakeBar {
  /** 20-byte header plus the device config. */
  readonly length: number;
  /** Device state shared by the registers. */
  readonly state: DeviceState;
  /** Device-specific configuration bytes. */
  readonly config: Uint8Array;
  /** Page frame numbers written per queue. */
  readonly pfns: number[] = [];

  /** Makes a legacy BAR over a fresh device state. */
  constructor(readonly options: FakeDeviceOptions = {}) {
    super();
    this.state = new DeviceState(options);
    this.config = options.config ?? new Uint8Array(12);
    this.length = LEGACY.device_config + this.config.length;
  }

  /** Register read in the legacy layout. */
  protected read(o: number, w: number): number {
    const s = this.state;
    if (o >= LEGACY.device_config) {
      let v = 0;
      for (let i = 0; i < w; i++) v |= (this.config[o - LEGACY.device_config + i] ?? 0) << (8 * i);
      return v;
    }
    switch (o) {
      case LEGACY.host_features:
        return Number((this.options.features ?? 0n) & 0xffff_ffffn);
      case LEGACY.guest_features:
        return Number(s.driverFeatures);
      case LEGACY.queue_address:
        return this.pfns[s.queueSelect] ?? 0;
      case LEGACY.queue_size:
        return s.queues[s.queueSelect]?.size ?? 0;
      case LEGACY.queue_select:
        return s.queueSelect;
      case LEGACY.device_status:
        return s.readStatus();
      default:
        return 0;
    }
  }

  /** Register write in the legacy layout. */
  protected write(o: number, _w: number, v: number): void {
    const s = this.state;
    switch (o) {
      case LEGACY.guest_features:
        s.driverFeatures = BigInt(v);
        return;
      case LEGACY.queue_address:
        this.pfns[s.queueSelect] = v;
        return;
      case LEGACY.queue_select:
        s.queueSelect = v;
        return;
      case LEGACY.queue_notify:
        s.notifications.push({ queue: v });
        return;
      case LEGACY.device_status:
        s.writeStatus(v);
        return;
    }
  }
}
