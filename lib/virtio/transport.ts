/**
 * The transport seam (VIRTIO 1.2 §4.1 "Virtio Over PCI Bus"): modern (§4.1.4 capabilities)
 * and legacy (§4.1.4.8, the 0.9.5 I/O BAR layout) behind one interface. The queue code never
 * sees a transport; it gets the addresses it lays out and a notify function.
 *
 * @module
 */

/** Where a queue's three areas live in device address space (§2.6, §2.7, §2.8). */
export interface QueueAddresses {
  /** Descriptor area (split: descriptor table; packed: descriptor ring). */
  readonly desc: number;
  /** Driver area (split: available ring; packed: driver event suppression). */
  readonly driver: number;
  /** Device area (split: used ring; packed: device event suppression). */
  readonly device: number;
}

/** The register-level virtio PCI transport (§4.1): modern capabilities or the legacy I/O BAR. */
export interface Transport extends Disposable {
  /** Which register layout: modern (§4.1.4) or legacy (§4.1.4.8). */
  readonly kind: "modern" | "legacy";
  /** Virtio device type (§5): 1 net, 2 blk, ... */
  readonly deviceType: number;
  /** Device status register (§2.1). */
  getStatus(): number;
  /** Writes the device status register (§2.1); 0 resets the device. */
  setStatus(status: number): void;
  /** Writes 0 and waits, bounded, until the device reads back 0 (§4.1.4.3.2). */
  reset(timeoutMs?: number): void;
  /** All feature bits the device offers (legacy: 32 bits). */
  deviceFeatures(): bigint;
  /** Writes the driver's feature bits. */
  setDriverFeatures(features: bigint): void;
  /** Number of virtqueues the device has (legacy: probed until size 0). */
  numQueues(): number;
  /** Maximum queue size the device allows for queue `index`; 0 = not available. */
  queueMaxSize(index: number): number;
  /**
   * Configures queue `index` with `size` entries at the given addresses and enables it.
   * Legacy devices take only `desc` and require the legacy layout (§2.7.2, 4096 alignment).
   */
  setupQueue(index: number, size: number, addresses: QueueAddresses): void;
  /** A function that kicks queue `index` (§4.1.4.4 notify); `value` is the NOTIFICATION_DATA word when negotiated. */
  notifier(index: number): (value: number) => void;
  /** Reads and clears the ISR status (§4.1.4.5). */
  readIsr(): number;
  /** Device-specific configuration (§4.1.4.6 / legacy after the header), little-endian (legacy: guest-endian = LE on x86). */
  readonly deviceConfig: DeviceConfigAccess;
}

/** Device configuration reads, retried while config_generation changes (§2.5.1). */
export interface DeviceConfigAccess {
  /** Bytes of device configuration the device exposes. */
  readonly length: number;
  /** Runs `read` until two generation counter reads around it agree; bounded retries. */
  consistent<T>(read: (cfg: RawConfig) => T): T;
}

/** Raw little-endian reads of device configuration at byte offsets. */
export interface RawConfig {
  /** Reads one byte. */
  read8(offset: number): number;
  /** Reads a little-endian 16-bit field. */
  read16(offset: number): number;
  /** Reads a little-endian 32-bit field. */
  read32(offset: number): number;
  /** Reads a little-endian 64-bit field. */
  read64(offset: number): bigint;
}
