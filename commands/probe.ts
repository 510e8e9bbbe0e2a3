/**
 * `virtio probe [ADDRESS...] [--type net,blk] [--json] [-v] [--allow-writes] [--pci-cfg]`: every virtio
 * device, decoded, read-only. The logic is in `lib/probe/`; this parses and renders.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { parseArgs, ROOT_OPTIONS, rootOption, sysfsUnder } from "./args.ts";
import { UsageError } from "../lib/errors.ts";
import { normalizePciAddress } from "../lib/pci/address.ts";
import { openDeviceBar } from "../lib/device/bar_access.ts";
import { probeAll, probeDevice, type ProbeOptions } from "../lib/probe/probe.ts";
import { PROBE_SCHEMA, type ProbeReport } from "../lib/probe/report.ts";
import { renderReport } from "../lib/probe/render.ts";
import { deviceTypeFromName } from "../lib/virtio/device_types.ts";

const usage = `Usage: virtio probe [ADDRESS...] [options]

Shows every virtio device: ids, transport, driver, BARs, virtio capabilities, features by
name, device configuration. Read-only: a device a driver owns is never written.

Arguments:
  ADDRESS            PCI address (0000:00:03.0 or 00:03.0); default: all virtio devices

Options:
  -t, --type LIST    only these device types (comma-separated names or numbers: net,blk,9p)
      --json         machine-readable output (schema ${PROBE_SCHEMA}, docs/probe-json.md)
  -v, --verbose      raw hex of config space and device configuration
      --allow-writes let probe write selector registers of devices NO driver owns
                     (offered features, queue sizes, input config)
      --pci-cfg      read modern devices' registers (device_status, num_queues,
                     config_generation, device config) through the PCI configuration
                     access window (VIRTIO 1.2 §4.1.4.9), which works for devices a
                     kernel driver owns. Writes to config space ONLY that capability's
                     window fields (cap.bar, cap.offset, cap.length, pci_cfg_data) and
                     leaves it disarmed (cap.length 0); no device register is written
                     unless --allow-writes on a driverless device. Needs root.
      --root DIR     filesystem root holding sys/ (default /; for recorded trees)
  -h, --help         this help

Reading capabilities and device registers needs root.

Examples:
  virtio probe
  virtio probe 00:04.0 --json
  virtio probe -t net,blk -v
  virtio probe --root tests/fixtures/host --pci-cfg`;

/** The probe options a run uses; `openBar` is injectable for tests. */
export interface ProbeRunDeps {
  readonly openBar?: ProbeOptions["openBar"];
}

/** The probe command line, checked; nothing read yet. */
export interface ProbeArgs {
  readonly addresses: string[];
  readonly types?: number[];
  readonly root?: string;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly allowWrites: boolean;
  readonly pciCfg: boolean;
}

/** Parses and checks `virtio probe`'s arguments (UsageError on a mistake). */
export function parseProbeArgs(args: string[]): ProbeArgs {
  const { values, positionals } = parseArgs(args, {
    type: { type: "string", short: "t" },
    json: { type: "boolean" },
    verbose: { type: "boolean", short: "v" },
    "allow-writes": { type: "boolean" },
    "pci-cfg": { type: "boolean" },
    ...ROOT_OPTIONS,
  });
  const types = values.type?.split(",").filter((w) => w !== "").map((w) => {
    const t = deviceTypeFromName(w.trim().toLowerCase());
    if (t === undefined) throw new UsageError(`unknown device type '${w}'`);
    return t;
  });
  const root = rootOption(values);
  return {
    addresses: positionals.map(normalizePciAddress),
    ...(types ? { types } : {}),
    ...(root !== undefined ? { root } : {}),
    json: values.json === true,
    verbose: values.verbose === true,
    allowWrites: values["allow-writes"] === true,
    pciCfg: values["pci-cfg"] === true,
  };
}

export function runProbe(args: string[], io: CommandIO, deps: ProbeRunDeps = {}): number {
  const a = parseProbeArgs(args);
  const { addresses, types, root } = a;
  const options: ProbeOptions = {
    ...(root !== undefined ? { sysfsRoot: sysfsUnder(root) } : {}),
    ...(types ? { types } : {}),
    openBar: deps.openBar ??
      ((addr, b, o) => openDeviceBar(addr, b, { writable: o.writable, sysfsRoot: root ?? "/" })),
    allowWrites: a.allowWrites,
    pciCfg: a.pciCfg,
    raw: a.verbose,
  };
  const report: ProbeReport = addresses.length === 0 ? probeAll(options) : {
    schema: PROBE_SCHEMA,
    devices: addresses.map((a) => probeDevice(a, options))
      .filter((d) => !types || types.includes(d.type.id)),
    non_pci: [],
  };
  if (a.json) io.out(JSON.stringify(report, null, 2) + "\n");
  else io.out(renderReport(report, { color: io.color, verbose: a.verbose }));
  const partial = report.devices.some((d) => d.notes.some((n) => n.includes("run as root")));
  if (partial) {
    io.err("virtio: not root: capabilities and device registers were not read; run as root\n");
    return 1;
  }
  return 0;
}

export const probeCommand: Command = {
  name: "probe",
  summary: "show every virtio device, decoded, read-only",
  usage,
  parse: parseProbeArgs,
  run: (args, io) => Promise.resolve(runProbe(args, io)),
};
