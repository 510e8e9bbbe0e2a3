/**
 * The human-readable tree for `virtio probe`. Pure: report in, text out, so tests compare
 * it with an expected rendering. Colour only when asked (a terminal without NO_COLOR).
 *
 * @module
 */
import { paint, type Style } from "../ansi.ts";
import type { ConfigValue } from "../virtio/config/decoder.ts";
import type { DeviceReport, FeatureSet, NonPciDevice, ProbeReport } from "./report.ts";

/** How `renderReport` draws the tree. */
export interface RenderOptions {
  /** Colour with ANSI escapes. */
  readonly color: boolean;
  /** Include raw hex dumps (when the report carries them). */
  readonly verbose: boolean;
}

function painter(color: boolean) {
  const wrap = (style: Style) => (s: string) => paint(color, style, s);
  return { bold: wrap("bold"), dim: wrap("dim"), red: wrap("red"), yellow: wrap("yellow") };
}

function features(label: string, set: FeatureSet, indent: string): string[] {
  const names = set.bits.map((b) => b.name ?? `bit${b.bit}`);
  const lines = [`${indent}${label} (${set.source}): ${set.hex}`];
  for (let i = 0; i < names.length; i += 6) {
    lines.push(`${indent}  ${names.slice(i, i + 6).join(" ")}`);
  }
  if (set.unknown.length) lines.push(`${indent}  unknown bits: ${set.unknown.join(", ")}`);
  return lines;
}

function value(v: ConfigValue): string {
  if (Array.isArray(v)) return `[${v.map(value).join(", ")}]`;
  if (typeof v === "object") {
    return Object.entries(v).map(([k, x]) => `${k}=${value(x)}`).join(" ");
  }
  return String(v);
}

function size(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && x % 1024 === 0 && i < units.length - 1) (x /= 1024, i++);
  return `${x} ${units[i]}`;
}

/** One PCI device as an indented tree. */
export function renderDevice(d: DeviceReport, o: RenderOptions): string {
  const p = painter(o.color);
  const lines: string[] = [];
  const title = `${d.address} virtio-${d.type.name}` +
    (d.type.description ? ` (${d.type.description})` : "");
  lines.push(p.bold(title));
  lines.push(
    `  ids: ${d.ids.vendor}:${d.ids.device} subsystem ${d.ids.subsystem_vendor}:${d.ids.subsystem_device} rev ${d.ids.revision} class ${d.ids.class}`,
  );
  lines.push(`  transport: ${d.kind}`);
  const drv = [d.driver ?? "none", d.virtio_driver, d.kernel_name].filter((x) => x).join(" / ");
  lines.push(`  driver: ${drv}`);
  for (const n of d.interfaces.net) {
    lines.push(
      `  interface: ${n.name}${n.mac ? ` mac ${n.mac}` : ""}${n.mtu ? ` mtu ${n.mtu}` : ""}`,
    );
  }
  for (const b of d.interfaces.block) {
    const sz = b.sectors === undefined ? "" : ` ${b.sectors} sectors (${size(b.sectors * 512)})`;
    lines.push(`  block: ${b.name}${sz}`);
  }
  if (d.interfaces.mount_tag !== undefined) lines.push(`  mount tag: ${d.interfaces.mount_tag}`);
  if (d.iommu_group !== undefined) lines.push(`  iommu group: ${d.iommu_group}`);
  for (const b of d.bars) {
    const kind = b.kind === "io"
      ? "I/O"
      : `memory${b.is64 ? " 64-bit" : ""}${b.prefetchable ? " prefetchable" : ""}`;
    lines.push(`  BAR${b.index}: ${kind}, ${size(b.size)}`);
  }
  if (d.virtio_capabilities.length) lines.push("  virtio capabilities:");
  for (const c of d.virtio_capabilities) {
    const extra = c.notify_off_multiplier === undefined
      ? ""
      : ` multiplier ${c.notify_off_multiplier}`;
    const id = c.type === "shared_memory" ? ` id ${c.id}` : "";
    lines.push(
      `    [${c.cap_offset.toString(16)}] ${
        c.type.padEnd(13)
      } bar ${c.bar} offset ${c.offset} length ${c.length}${id}${extra}`,
    );
  }
  if (d.msix) {
    lines.push(`  MSI-X: ${d.msix.table_size} vectors, ${d.msix.enabled ? "enabled" : "disabled"}`);
  }
  if (d.status) {
    lines.push(
      `  status (${d.status.source}): 0x${d.status.value.toString(16)} ${d.status.names.join(" ")}`,
    );
  }
  if (d.features.offered) lines.push(...features("offered features", d.features.offered, "  "));
  if (d.features.negotiated) {
    lines.push(...features("negotiated features", d.features.negotiated, "  "));
  }
  if (d.num_queues !== undefined) lines.push(`  queues: ${d.num_queues}`);
  if (d.queues?.length) {
    lines.push(`  queue max sizes: ${d.queues.map((q) => `${q.index}:${q.max_size}`).join(" ")}`);
  }
  for (const v of d.kernel_view ?? []) {
    const facts = Object.entries(v.fields).map(([k, x]) => `${k}=${x}`).join(" ");
    lines.push(`  kernel view (sysfs) ${v.name}: ${facts}`);
  }
  if (d.config) {
    const gen = d.config.generation === undefined ? "" : `, generation ${d.config.generation}`;
    lines.push(
      `  device config (${d.config.source} via ${d.config.via}, fields per ${d.config.features_from} features${gen}):`,
    );
    for (const [k, v] of Object.entries(d.config.fields)) lines.push(`    ${k}: ${value(v)}`);
  }
  if (d.pci_cfg) {
    const works = d.pci_cfg.works === undefined
      ? "not checked (no kernel status)"
      : d.pci_cfg.works
      ? "works"
      : "DOES NOT WORK";
    lines.push(
      `  pci-cfg window: cap 0x${
        d.pci_cfg.cap_offset.toString(16)
      }, ${works}, ${d.pci_cfg.accesses} accesses, ${
        d.pci_cfg.disarmed ? "left disarmed" : "LEFT ARMED"
      }`,
    );
  }
  for (const n of d.notes) lines.push(p.dim(`  note: ${n}`));
  for (const f of d.findings) lines.push(p.yellow(`  finding: ${f}`));
  if (o.verbose && d.raw) {
    lines.push("  config space:");
    lines.push(...d.raw.config_space.split("\n").map((l) => `    ${l}`));
    if (d.raw.device_config) {
      lines.push("  device config bytes:");
      lines.push(...d.raw.device_config.split("\n").map((l) => `    ${l}`));
    }
  }
  return lines.join("\n") + "\n";
}

function renderNonPci(d: NonPciDevice, o: RenderOptions): string {
  const p = painter(o.color);
  const lines = [p.bold(`${d.name} virtio-${d.type.name} (${d.transport}, parent ${d.parent})`)];
  lines.push(`  driver: ${d.driver ?? "none"}`);
  if (d.status) {
    lines.push(`  status (sysfs): 0x${d.status.value.toString(16)} ${d.status.names.join(" ")}`);
  }
  if (d.features.negotiated) {
    lines.push(...features("negotiated features", d.features.negotiated, "  "));
  }
  return lines.join("\n") + "\n";
}

/** The whole report: devices separated by blank lines. */
export function renderReport(r: ProbeReport, o: RenderOptions): string {
  const parts = [
    ...r.devices.map((d) => renderDevice(d, o)),
    ...r.non_pci.map((d) => renderNonPci(d, o)),
  ];
  if (parts.length === 0) return "no virtio devices found\n";
  return parts.join("\n");
}
