/**
 * A fake PCI configuration space for tests and scripts: bytes in memory, a builder that lays
 * out a header and a capability list, and a log of every write so a test can prove that
 * read-only code wrote nothing.
 *
 * @module
 */
import type { ConfigSpace } from "../lib/pci/config_space.ts";

/**
 * Little-endian bytes in memory with a log of every write: what the fake config space and
 * the fake BAR share. `beforeRead` lets a subclass check or trap reads.
 */
export abstract class LoggedBytes {
  /** The bytes; tests may edit them directly (unlogged). */
  readonly bytes: Uint8Array;
  /** A little-endian view of `bytes`. */
  protected readonly view: DataView;
  /** Every write through write8/16/32 as [offset, width, value], in order. */
  readonly writes: [number, 1 | 2 | 4, number][] = [];

  /** `size` zeroed bytes. */
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  /** Called before each read of `n` bytes at `o`; the default allows all. */
  protected beforeRead(_o: number, _n: number): void {}
  /** Reads one byte. */
  read8(o: number): number {
    this.beforeRead(o, 1);
    return this.view.getUint8(o);
  }
  /** Reads a little-endian 16-bit value. */
  read16(o: number): number {
    this.beforeRead(o, 2);
    return this.view.getUint16(o, true);
  }
  /** Reads a little-endian 32-bit value. */
  read32(o: number): number {
    this.beforeRead(o, 4);
    return this.view.getUint32(o, true);
  }
  /** Writes one byte and logs it. */
  write8(o: number, v: number): void {
    this.writes.push([o, 1, v]);
    this.view.setUint8(o, v);
  }
  /** Writes a little-endian 16-bit value and logs it. */
  write16(o: number, v: number): void {
    this.writes.push([o, 2, v]);
    this.view.setUint16(o, v, true);
  }
  /** Writes a little-endian 32-bit value and logs it. */
  write32(o: number, v: number): void {
    this.writes.push([o, 4, v]);
    this.view.setUint32(o, v, true);
  }
}

/** A PCI configuration space in memory that logs every write (fits the ConfigSpace seam). */
export class FakeConfigSpace extends LoggedBytes implements ConfigSpace {
  /** Next free capability slot and the offset of the last capability's next pointer. */
  #nextCap = 0x40;
  #lastNextPointer = 0x34;

  /** An all-zero config space of `size` bytes. */
  constructor(size = 256) {
    super(size);
  }

  /** A config space holding `bytes` (e.g. a recorded sysfs `config` file). */
  static from(bytes: Uint8Array): FakeConfigSpace {
    const cs = new FakeConfigSpace(bytes.length);
    cs.bytes.set(bytes);
    return cs;
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Sets vendor/device/subsystem ids and revision (header type 0). */
  header(
    ids: { vendor: number; device: number; subsystemDevice?: number; revision?: number },
  ): this {
    this.view.setUint16(0x00, ids.vendor, true);
    this.view.setUint16(0x02, ids.device, true);
    this.view.setUint8(0x08, ids.revision ?? 1);
    this.view.setUint16(0x2c, ids.vendor, true);
    this.view.setUint16(0x2e, ids.subsystemDevice ?? ids.device, true);
    return this;
  }

  /**
   * Appends a capability with id `id` and body `body` (bytes after id and next pointer),
   * linking it from the previous one. Returns its offset.
   */
  addCapability(id: number, body: number[]): number {
    const at = this.#nextCap;
    this.bytes[at] = id;
    this.bytes[at + 1] = 0;
    this.bytes.set(body, at + 2);
    this.bytes[this.#lastNextPointer] = at;
    this.#lastNextPointer = at + 1;
    this.#nextCap = (at + 2 + body.length + 3) & ~3;
    this.view.setUint16(0x06, this.read16(0x06) | 0x10, true);
    return at;
  }

  /** Appends a virtio structure capability (VIRTIO 1.2 §4.1.4). */
  addVirtioCap(cap: {
    cfgType: number;
    bar: number;
    offset: number;
    length: number;
    id?: number;
    notifyOffMultiplier?: number;
    offsetHi?: number;
    lengthHi?: number;
  }): number {
    const extra = cap.notifyOffMultiplier !== undefined
      ? le32(cap.notifyOffMultiplier)
      : cap.offsetHi !== undefined
      ? [...le32(cap.offsetHi), ...le32(cap.lengthHi ?? 0)]
      : [];
    const len = 16 + extra.length;
    return this.addCapability(0x09, [
      len,
      cap.cfgType,
      cap.bar,
      cap.id ?? 0,
      0,
      0,
      ...le32(cap.offset),
      ...le32(cap.length),
      ...extra,
    ]);
  }

  /** Appends an MSI-X capability with `entries` table entries; returns its offset. */
  addMsix(
    entries: number,
    opts: { enabled?: boolean; bar?: number; tableOffset?: number } = {},
  ): number {
    const control = (entries - 1) | (opts.enabled ? 0x8000 : 0);
    const bar = opts.bar ?? 0;
    return this.addCapability(0x11, [
      control & 0xff,
      control >> 8,
      ...le32((opts.tableOffset ?? 0x8000) | bar),
      ...le32(0x48000 | bar),
    ]);
  }
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * A fake BAR: register bytes in memory, a write log, and a trap on the ISR byte (reading it
 * would clear it on real hardware, so a read here throws). Fits the RegisterRegion seam.
 */
export class FakeBarRegion extends LoggedBytes {
  /** Offsets whose reads throw (e.g. the ISR register). */
  readonly forbidden = new Set<number>();
  /** Called before every read; tests use it to change registers mid-read. */
  onRead?: (offset: number) => void;
  /** Set once closed. */
  disposed = false;

  /** A zeroed BAR of `length` bytes. */
  constructor(readonly length: number) {
    super(length);
  }
  /** Out-of-range and forbidden reads throw; `onRead` sees the rest. */
  protected override beforeRead(o: number, n: number): void {
    if (o < 0 || o + n > this.length) throw new RangeError(`read ${o}+${n} outside ${this.length}`);
    for (let i = 0; i < n; i++) {
      if (this.forbidden.has(o + i)) throw new Error(`forbidden read at 0x${(o + i).toString(16)}`);
    }
    this.onRead?.(o);
  }
  /** Test set-up writes that are not logged. */
  set8(o: number, v: number): this {
    this.view.setUint8(o, v);
    return this;
  }
  /** Sets a little-endian 16-bit value without logging it. */
  set16(o: number, v: number): this {
    this.view.setUint16(o, v, true);
    return this;
  }
  /** Sets a little-endian 32-bit value without logging it. */
  set32(o: number, v: number): this {
    this.view.setUint32(o, v, true);
    return this;
  }
  /** Sets a little-endian 64-bit value without logging it. */
  set64(o: number, v: bigint): this {
    this.view.setBigUint64(o, v, true);
    return this;
  }
  /** Marks the BAR closed. */
  [Symbol.dispose](): void {
    this.disposed = true;
  }
}
