/**
 * Passive checks that need `--pci-cfg` (or a mappable BAR): does the kernel's sysfs view of a
 * device agree with the device's own config, and does the PCI configuration access window
 * (§4.1.4.9) work.
 *
 * @module
 */
import type { DeviceReport } from "../probe/report.ts";
import { check, type CheckResult } from "./report.ts";

/**
 * `config.kernel-agrees`: what the kernel's driver made of the device config equals it
 * (capacity and block size are copied by virtio_blk; queue counts may only be lower — the
 * kernel uses at most one per CPU; an MTU above the device's maximum breaks §5.1.4.1; a MAC
 * that differs may be an administrator's change, so it is a warning). Undefined unless both
 * views exist.
 */
export function checkKernelAgrees(report: DeviceReport): CheckResult | undefined {
  const name = "config.kernel-agrees";
  const device = report.config?.fields;
  const kernel = report.kernel_view?.[0]?.fields;
  if (!device || !kernel) return undefined;
  const fails: string[] = [];
  const warns: string[] = [];
  const compared: string[] = [];
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  if (report.type.id === 1) {
    if (device.mac !== undefined && kernel.mac !== undefined) {
      compared.push("mac");
      if (device.mac !== kernel.mac) warns.push(`mac: kernel ${kernel.mac}, device ${device.mac}`);
    }
    const mtu = num(device.mtu), kmtu = num(kernel.mtu);
    if (mtu !== undefined && kmtu !== undefined) {
      compared.push("mtu");
      if (kmtu > mtu) fails.push(`mtu: kernel ${kmtu} above the device's maximum ${mtu}`);
    }
    const pairs = num(device.max_virtqueue_pairs), rx = num(kernel.rx_queues);
    if (pairs !== undefined && rx !== undefined) {
      compared.push("queue pairs");
      if (rx > pairs) fails.push(`queues: kernel ${rx} rx queues, device offers ${pairs} pairs`);
    }
  }
  if (report.type.id === 2) {
    const cap = num(device.capacity_bytes), kcap = num(kernel.capacity_bytes);
    if (cap !== undefined && kcap !== undefined) {
      compared.push("capacity");
      if (cap !== kcap) fails.push(`capacity: kernel ${kcap} bytes, device ${cap}`);
    }
    const bs = num(device.blk_size), kbs = num(kernel.logical_block_size);
    if (bs !== undefined && kbs !== undefined) {
      compared.push("block size");
      if (bs !== kbs) fails.push(`block size: kernel ${kbs}, device blk_size ${bs}`);
    }
    const q = num(device.num_queues), kq = num(kernel.queues);
    if (q !== undefined && kq !== undefined) {
      compared.push("queues");
      if (kq > q) fails.push(`queues: kernel ${kq}, device ${q}`);
    }
  }
  if (compared.length === 0) return undefined;
  if (fails.length) return check.fail(name, [...fails, ...warns].join("; "));
  if (warns.length) return check.warn(name, warns.join("; "));
  return check.pass(name, `kernel and device agree on ${compared.join(", ")}`);
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
