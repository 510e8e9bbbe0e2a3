/**
 * `virtio diag [DEVICE...] [--active] [--json|--jsonl] [--junit FILE] [--force]`: named
 * health checks per virtio device with pass/warn/fail/skip and a reason. The logic is in
 * `lib/diag/`; this parses and renders. Exit 0 only when no check failed.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import {
  accessOption,
  intOption,
  parseArgs,
  ROOT_OPTIONS,
  rootOption,
  sysfsUnder,
} from "./args.ts";
import { UsageError, VirtioError } from "../lib/errors.ts";
import { normalizePciAddress } from "../lib/pci/address.ts";
import { openDeviceBar } from "../lib/device/bar_access.ts";
import { diagnose, type DiagOptions } from "../lib/diag/run.ts";
import { DIAG_SCHEMA } from "../lib/diag/report.ts";
import { renderDiagJsonLine, renderDiagText, renderJUnit } from "../lib/diag/render.ts";

const usage = `Usage: virtio diag [DEVICE...] [options]

Named health checks for every virtio device (or the ones given), each pass, warn, fail or
skip with a one-line reason. Passive checks are read-only and safe on any machine:
  pci.config, pci.capabilities, virtio.capabilities, virtio.features, virtio.status,
  net.link (NICs), blk.capacity (disks), config.kernel-agrees (when the device's own
  config is readable: kernel's view vs device's), pci.cfg-window (with --pci-cfg)
--active also takes each device over (refused for devices in use unless --force) and runs
  init.sequence, queues.setup, net.selftest (NICs), device.restored
then gives the device back to its driver.

Arguments:
  DEVICE             PCI address (0000:00:04.0 or 00:04.0); default: all virtio devices

Options:
      --active       run the takeover checks (root; only on devices you can spare)
      --force        with --active: take devices that look in use (never the root disk)
      --access PATH  with --active: auto (default), sysfs or vfio
      --peer DEVICE  with --active: a second NIC of ours on the same wire that must
                     receive the self-test frames
      --frames N     frames the NIC self-test sends (default 64)
      --json         one JSON document (schema ${DIAG_SCHEMA}, docs/diag-json.md)
      --jsonl        one JSON line per device, printed as each finishes
      --junit FILE   also write JUnit XML (one testsuite per device, one testcase per check)
      --pci-cfg      read device config through the PCI configuration access window
                     (§4.1.4.9; writes only that capability's window fields, see
                     virtio probe --help) and check it works
      --root DIR     filesystem root holding sys/ (default /; for recorded trees)
  -h, --help         this help

Examples:
  virtio diag
  virtio diag 00:04.0 --json
  virtio diag --jsonl --junit diag.xml
  virtio diag 00:04.0 --active --peer 00:05.0 --frames 128

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 usage error.`;

/** Injectable pieces for tests. */
export interface DiagRunDeps {
  readonly openBar?: DiagOptions["openBar"];
  readonly open?: DiagOptions["open"];
  readonly currentDriver?: DiagOptions["currentDriver"];
  readonly hostname?: string;
}

/** Parses and checks `virtio diag`'s arguments (UsageError on a mistake). */
export function parseDiagArgs(args: string[]) {
  const { values, positionals } = parseArgs(args, {
    active: { type: "boolean" },
    force: { type: "boolean" },
    access: { type: "string" },
    peer: { type: "string" },
    frames: { type: "string" },
    json: { type: "boolean" },
    jsonl: { type: "boolean" },
    junit: { type: "string" },
    "pci-cfg": { type: "boolean" },
    ...ROOT_OPTIONS,
  });
  if (values.json && values.jsonl) throw new UsageError("--json and --jsonl exclude each other");
  const access = accessOption(values.access);
  for (const opt of ["force", "access", "peer", "frames"] as const) {
    if (values[opt] !== undefined && !values.active) {
      throw new UsageError(`--${opt} only applies with --active`);
    }
  }
  const frames = intOption("frames", values.frames, 1, 4096);
  const addresses = positionals.map(normalizePciAddress);
  const peer = values.peer === undefined ? undefined : normalizePciAddress(values.peer);
  if (peer && addresses.includes(peer)) {
    throw new UsageError(`--peer ${peer} is also a device to diagnose`);
  }
  return { values, addresses, peer, frames, access, root: rootOption(values) };
}

/** Runs `virtio diag` with `args`; returns the exit code. */
export async function runDiag(
  args: string[],
  io: CommandIO,
  deps: DiagRunDeps = {},
): Promise<number> {
  const { values, addresses, peer, frames, access, root } = parseDiagArgs(args);
  const report = await diagnose({
    ...(addresses.length ? { addresses } : {}),
    ...(root !== undefined ? { sysfsRoot: sysfsUnder(root) } : {}),
    openBar: deps.openBar ??
      ((addr, b, o) => openDeviceBar(addr, b, { writable: o.writable, sysfsRoot: root ?? "/" })),
    active: values.active === true,
    pciCfg: values["pci-cfg"] === true,
    force: values.force === true,
    access,
    ...(peer ? { peer } : {}),
    ...(frames === undefined ? {} : { frames }),
    log: (l) => io.err(`${l}\n`),
    ...(deps.open ? { open: deps.open } : {}),
    ...(deps.currentDriver ? { currentDriver: deps.currentDriver } : {}),
    ...(values.jsonl ? { onDevice: (d) => io.out(renderDiagJsonLine(d)) } : {}),
  });
  if (values.junit !== undefined) {
    const host = deps.hostname ?? Deno.hostname();
    try {
      Deno.writeTextFileSync(values.junit, renderJUnit(report, host));
    } catch (e) {
      throw new VirtioError(`cannot write ${values.junit}: ${e instanceof Error ? e.message : e}`);
    }
  }
  if (values.json) io.out(JSON.stringify(report, null, 2) + "\n");
  else if (!values.jsonl) io.out(renderDiagText(report, { color: io.color }));
  if (report.devices.length === 0) io.err("virtio: no virtio devices found\n");
  return report.ok ? 0 : 1;
}

export const diagCommand: Command = {
  name: "diag",
  summary: "health checks per device: pass/warn/fail, --json/--jsonl/--junit",
  usage,
  parse: parseDiagArgs,
  run: (args, io) => runDiag(args, io),
};
