/**
 * PCI addresses in the kernel's sysfs spelling: `DDDD:BB:DD.F` (domain, bus, device,
 * function). `BB:DD.F` is accepted and means domain 0000.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

export interface PciAddress {
  readonly domain: number;
  readonly bus: number;
  readonly device: number;
  readonly function: number;
}

const PATTERN = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;

/** Parses `0000:00:03.0` or `00:03.0`; throws UsageError on anything else. */
export function parsePciAddress(text: string): PciAddress {
  const m = PATTERN.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `malformed PCI address '${text}' (expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:00:03.0)`,
    );
  }
  const device = parseInt(m[3]!, 16);
  if (device > 0x1f) throw new UsageError(`PCI device number ${m[3]} above 1f in '${text}'`);
  return {
    domain: m[1] === undefined ? 0 : parseInt(m[1], 16),
    bus: parseInt(m[2]!, 16),
    device,
    function: parseInt(m[4]!, 10),
  };
}

/** The canonical sysfs name: lower-case, with domain. */
export function formatPciAddress(a: PciAddress): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.device, 2)}.${a.function}`;
}

/** `00:03.0` → `0000:00:03.0`; throws UsageError when malformed. */
export function normalizePciAddress(text: string): string {
  return formatPciAddress(parsePciAddress(text));
}

/** True when `text` is a canonical sysfs PCI address (as found in /sys/bus/pci/devices). */
export function isCanonicalPciAddress(text: string): boolean {
  return /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(text);
}
