/**
 * `virtio status [--json]`: every virtio PCI device, its driver, whether it is in use and
 * why, and our claim record if any. Read-only. The logic is `virtioStatus` in
 * `lib/device/devbind.ts`.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { parseJsonRootArgs } from "./args.ts";
import { type DevbindOptions, type DeviceStatus, virtioStatus } from "../lib/device/devbind.ts";

const usage = `Usage: virtio status [options]

Every virtio PCI device: address, type, ids, transport, driver, interfaces and disks, and
whether it is in use and why (the reasons 'virtio bind' and takeovers refuse on), with the
claim record of a process that took it over. Read-only.

Options:
      --json       machine-readable output: {"schema":"virtio-status/1","devices":[...]}
      --root DIR   filesystem root holding sys/, proc/, run/ (default /; for fake trees)
  -h, --help       this help

Examples:
  virtio status
  virtio status --json --root /tmp/fake-tree`;

export const STATUS_SCHEMA = "virtio-status/1";

function renderText(devices: DeviceStatus[]): string {
  if (devices.length === 0) return "no virtio PCI devices\n";
  const lines: string[] = [];
  for (const d of devices) {
    const driver = d.driver === null
      ? "no driver"
      : d.virtioDriver === null
      ? d.driver
      : `${d.driver}/${d.virtioDriver}`;
    const names = [...d.interfaces, ...d.disks].join(",");
    lines.push(
      [
        d.address,
        d.type.padEnd(8),
        d.ids,
        d.transport.padEnd(12),
        driver.padEnd(24),
        (names || "-").padEnd(8),
        d.critical.length > 0 ? "IN USE (never taken)" : d.inUse ? "IN USE" : "free",
      ].join("  "),
    );
    for (const r of d.reasons) lines.push(`    ${r}`);
    if (d.claim !== null) {
      lines.push(
        `    claim: pid ${d.claim.pid} (${
          d.claim.ownerAlive ? "alive" : "gone: run 'virtio restore'"
        }), ` +
          `from ${d.claim.originalDriver ?? "no driver"} to ${d.claim.driver ?? "unbound"}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** Runs `virtio status`; `deps` points it at a fake tree in tests. */
export function runStatus(args: string[], io: CommandIO, deps: DevbindOptions = {}): number {
  const { json, root } = parseJsonRootArgs(args);
  const devices = virtioStatus({ ...deps, ...(root !== undefined ? { root } : {}) });
  if (json) io.out(JSON.stringify({ schema: STATUS_SCHEMA, devices }, null, 2) + "\n");
  else io.out(renderText(devices));
  return 0;
}

export const statusCommand: Command = {
  name: "status",
  summary: "every virtio device: driver, in use or not and why, claims",
  usage,
  parse: parseJsonRootArgs,
  run: (args, io) => Promise.resolve(runStatus(args, io)),
};
