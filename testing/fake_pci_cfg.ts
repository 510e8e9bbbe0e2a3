/**
 * A config space whose `virtio_pci_cfg_cap` works as the PCI configuration access window
 * (VIRTIO 1.2 §4.1.4.9) over fake BARs: an access of pci_cfg_data with cap.length 1, 2 or 4
 * reads or writes BAR cap.bar at cap.offset. `broken` makes the window ignore its fields
 * (data reads all-ones), as a hypervisor without a working window does.
 *
 * @module
 */
import type { RegisterRegion } from "../lib/pci/region.ts";
import { PCI_CFG_CAP } from "../lib/pci/cfg_window.ts";
import { FakeConfigSpace } from "./fake_config_space.ts";

/** A {@link FakeConfigSpace} with a working (or deliberately broken) access window. */
export class WindowedConfigSpace extends FakeConfigSpace {
  /** Offset of the pci_cfg capability, once added. */
  capOffset = -1;
  /** Every BAR access the window made, as [bar, offset, width, "r" | "w"]. */
  readonly barAccesses: [number, number, number, "r" | "w"][] = [];
  /** When true the window does nothing: data reads return all-ones. */
  broken = false;

  constructor(readonly bars: ReadonlyMap<number, RegisterRegion>, size = 256) {
    super(size);
  }

  /** Appends the pci_cfg capability; `capLength` below 20 models a window without data. */
  addPciCfgCap(capLength = 20): number {
    const body = [capLength, 5, 0, 0, 0, 0, ...new Array(8).fill(0)];
    if (capLength >= 20) body.push(0, 0, 0, 0);
    this.capOffset = this.addCapability(0x09, body);
    return this.capOffset;
  }

  #window(o: number, n: number): { bar: RegisterRegion; barIndex: number; at: number } | null {
    if (this.capOffset < 0 || o !== this.capOffset + PCI_CFG_CAP.data || this.broken) return null;
    const length = this.view.getUint32(this.capOffset + PCI_CFG_CAP.length, true);
    if (length !== n) return null; // not armed for this width: plain config bytes
    const barIndex = this.view.getUint8(this.capOffset + PCI_CFG_CAP.bar);
    const bar = this.bars.get(barIndex);
    if (!bar) return null;
    return { bar, barIndex, at: this.view.getUint32(this.capOffset + PCI_CFG_CAP.offset, true) };
  }

  override read8(o: number): number {
    const w = this.#window(o, 1);
    if (w) this.barAccesses.push([w.barIndex, w.at, 1, "r"]);
    return w ? w.bar.read8(w.at) : this.#plain(o, 1, () => super.read8(o));
  }
  override read16(o: number): number {
    const w = this.#window(o, 2);
    if (w) this.barAccesses.push([w.barIndex, w.at, 2, "r"]);
    return w ? w.bar.read16(w.at) : this.#plain(o, 2, () => super.read16(o));
  }
  override read32(o: number): number {
    const w = this.#window(o, 4);
    if (w) this.barAccesses.push([w.barIndex, w.at, 4, "r"]);
    return w ? w.bar.read32(w.at) : this.#plain(o, 4, () => super.read32(o));
  }
  override write8(o: number, v: number): void {
    const w = this.#window(o, 1);
    if (w) this.barAccesses.push([w.barIndex, w.at, 1, "w"]), w.bar.write8(w.at, v);
    super.write8(o, v);
  }
  override write16(o: number, v: number): void {
    const w = this.#window(o, 2);
    if (w) this.barAccesses.push([w.barIndex, w.at, 2, "w"]), w.bar.write16(w.at, v);
    super.write16(o, v);
  }
  override write32(o: number, v: number): void {
    const w = this.#window(o, 4);
    if (w) this.barAccesses.push([w.barIndex, w.at, 4, "w"]), w.bar.write32(w.at, v);
    super.write32(o, v);
  }

  #plain(o: number, n: number, read: () => number): number {
    const data = this.capOffset >= 0 && o === this.capOffset + PCI_CFG_CAP.data;
    return data && this.broken ? (n === 4 ? 0xffffffff : (1 << (8 * n)) - 1) : read();
  }
}
