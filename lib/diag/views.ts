/**
 * Passive checks that need `--pci-cfg` (or a mappable BAR): does the kernel's sysfs view of a
 * device agree with the device's own config, and does the PCI configuration access window
 * (§4.1.4.9) work.
 *
 * @module
 */
import type { DeviceReport } from "../probe/report.ts";
import {
  VIRTIO_ID_BLOCK,
  VIRTIO_ID_MEM,
  VIRTIO_ID_NET,
  VIRTIO_ID_PMEM,
} from "../virtio/device_types.ts";
import { check, type CheckResult } from "./report.ts";

type Fields = Record<string, unknown>;

/** What one device type's comparison found: the facts compared, and what disagrees. */
interface Comparison {
  compared: string[];
  fails: string[];
  warns: string[];
}

const num = (v: unknown) => (v === undefined ? undefined : Number(v));

/** net (§5.1.4): a MAC the kernel changed may be an administrator's; an MTU above the maximum breaks §5.1.4.1. */
function compareNet(device: Fields, kernel: Fields, c: Comparison): void {
  if (device.mac !== undefined && kernel.mac !== undefined) {
    c.compared.push("mac");
    if (device.mac !== kernel.mac) c.warns.push(`mac: kernel ${kernel.mac}, device ${device.mac}`);
  }
  const mtu = num(device.mtu), kmtu = num(kernel.mtu);
  if (mtu !== undefined && kmtu !== undefined) {
    c.compared.push("mtu");
    if (kmtu > mtu) c.fails.push(`mtu: kernel ${kmtu} above the device's maximum ${mtu}`);
  }
  const pairs = num(device.max_virtqueue_pairs), rx = num(kernel.rx_queues);
  if (pairs !== undefined && rx !== undefined) {
    c.compared.push("queue pairs");
    if (rx > pairs) c.fails.push(`queues: kernel ${rx} rx queues, device offers ${pairs} pairs`);
  }
}

/** blk (§5.2.4): virtio_blk copies capacity and blk_size; it may use fewer queues, never more. */
function compareBlk(device: Fields, kernel: Fields, c: Comparison): void {
  const cap = num(device.capacity_bytes), kcap = num(kernel.capacity_bytes);
  if (cap !== undefined && kcap !== undefined) {
    c.compared.push("capacity");
    if (cap !== kcap) c.fails.push(`capacity: kernel ${kcap} bytes, device ${cap}`);
  }
  const bs = num(device.blk_size), kbs = num(kernel.logical_block_size);
  if (bs !== undefined && kbs !== undefined) {
    c.compared.push("block size");
    if (bs !== kbs) c.fails.push(`block size: kernel ${kbs}, device blk_size ${bs}`);
  }
  const q = num(device.num_queues), kq = num(kernel.queues);
  if (q !== undefined && kq !== undefined) {
    c.compared.push("queues");
    if (kq > q) c.fails.push(`queues: kernel ${kq}, device ${q}`);
  }
}

/** pmem (§5.19.4): the kernel's pmem region is the device's start and size, nothing else. */
function comparePmem(device: Fields, kernel: Fields, c: Comparison): void {
  for (const key of ["start", "size"] as const) {
    if (device[key] === undefined || kernel[key] === undefined) continue;
    c.compared.push(key);
    // start is hex text on both sides, size a number (or decimal text past 2^53).
    if (BigInt(device[key] as string) !== BigInt(kernel[key] as string)) {
      c.fails.push(`${key}: kernel's region ${kernel[key]}, device ${device[key]}`);
    }
  }
}

/**
 * mem (§5.15.4): the kernel adds whole memory blocks inside the device's region, so what it
 * added may exceed plugged_size (sub-block plugging) but never usable_region_size; less than
 * plugged_size is a driver still catching up, or memory left unused: a warning.
 */
function compareMem(device: Fields, kernel: Fields, c: Comparison): void {
  const added = num(kernel.bytes), plugged = num(device.plugged_size);
  const usable = num(device.usable_region_size);
  if (added === undefined || plugged === undefined) return;
  c.compared.push("plugged memory");
  if (usable !== undefined && added > usable) {
    c.fails.push(`memory: kernel added ${added} bytes, above the usable region's ${usable}`);
  } else if (added < plugged) {
    c.warns.push(`memory: device plugged ${plugged} bytes, the kernel added ${added}`);
  }
}

/**
 * `config.kernel-agrees`: what the kernel's driver made of the device config equals it — net,
 * blk, pmem and mem, each by its own rule above. Undefined unless both views exist.
 */
export function checkKernelAgrees(report: DeviceReport): CheckResult | undefined {
  const name = "config.kernel-agrees";
  const device = report.config?.fields;
  const views = report.kernel_view ?? [];
  if (!device || views.length === 0) return undefined;
  const c: Comparison = { compared: [], fails: [], warns: [] };
  const first = views[0]!.fields;
  if (report.type.id === VIRTIO_ID_NET) compareNet(device, first, c);
  if (report.type.id === VIRTIO_ID_BLOCK) compareBlk(device, first, c);
  if (report.type.id === VIRTIO_ID_PMEM) comparePmem(device, first, c);
  if (report.type.id === VIRTIO_ID_MEM) {
    const blocks = views.find((v) => v.name === "memory");
    if (blocks) compareMem(device, blocks.fields, c);
  }
  if (c.compared.length === 0) return undefined;
  if (c.fails.length) return check.fail(name, [...c.fails, ...c.warns].join("; "));
  if (c.warns.length) return check.warn(name, c.warns.join("; "));
  return check.pass(name, `kernel and device agree on ${c.compared.join(", ")}`);
}

/** `pci.cfg-window`: with `--pci-cfg`, the §4.1.4.9 window exists, works and is left disarmed. */
export function checkCfgWindow(report: DeviceReport, requested: boolean): CheckResult | undefined {
  const name = "pci.cfg-window";
  if (!requested || report.kind === "legacy") return undefined;
  const w = report.pci_cfg;
  if (!w) {
    const why = report.findings.find((f) => /access (capability|window)|pci_cfg/.test(f));
    return why ? check.fail(name, why) : check.skip(name, "window not used (config not readable)");
  }
  if (w.works === false) {
    return check.fail(
      name,
      report.findings.find((f) => /window does not work/.test(f)) ?? "broken",
    );
  }
  if (!w.disarmed) return check.fail(name, "window left armed (cap.length not 0) after use");
  return check.pass(
    name,
    `${w.accesses} accesses through cap 0x${w.cap_offset.toString(16)}, ${
      w.works ? "device_status equals the kernel's" : "no kernel status to compare"
    }, left disarmed`,
  );
}
