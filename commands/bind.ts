/**
 * `virtio bind DEVICE --driver NAME [--force]` and `virtio unbind DEVICE [--force]`: move a
 * virtio device between the kernel and user-space drivers, like `dpdk-devbind.py`, with the
 * same in-use refusal as a takeover. The logic is in `lib/device/devbind.ts`.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { parseArgs, ROOT_OPTIONS, rootOption } from "./args.ts";
import { UsageError } from "../lib/errors.ts";
import {
  bindDevice,
  type BindResult,
  type DevbindOptions,
  unbindDevice,
} from "../lib/device/devbind.ts";

const common = `Arguments:
  DEVICE             PCI address (0000:00:04.0 or 00:04.0) of a virtio device

Options:
  -f, --force        act even when the device is in use (see 'virtio status'); never on
                     a device this machine depends on
      --json         print the result as JSON
      --root DIR     filesystem root holding sys/, proc/, run/ (default /; for fake trees)
  -h, --help         this help

Refuses a device that is in use (mounted, an interface up with addresses or routes, the
current RNG, a kernel driver we cannot show idle ...) and one a running virtio process has
taken over. Needs root.`;

const bindUsage = `Usage: virtio bind DEVICE --driver NAME [options]

Binds DEVICE to driver NAME: vfio-pci (loaded with modprobe when missing), uio_pci_generic,
or virtio-pci to give it back to the kernel. Another driver than virtio-pci stays the only
one allowed (driver_override) until the device is bound back to virtio-pci.

      --driver NAME  the driver to bind to (required)
${common}

Examples:
  virtio bind 00:04.0 --driver vfio-pci
  virtio bind 00:04.0 --driver=virtio-pci --json`;

const unbindUsage = `Usage: virtio unbind DEVICE [options]

Unbinds DEVICE from its driver; it stays without a driver until bound again
('virtio bind DEVICE --driver virtio-pci').

${common}

Examples:
  virtio unbind 00:04.0
  virtio unbind 00:05.0 -f --json`;

function render(io: CommandIO, result: BindResult, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(result, null, 2) + "\n");
    return;
  }
  for (const r of result.forced) io.err(`virtio: warning: forced although ${r}\n`);
  const what = (d: string | null) => d ?? "no driver";
  io.out(
    result.changed
      ? `${result.address} (${result.type}): ${what(result.before)} -> ${what(result.after)}\n`
      : `${result.address} (${result.type}): already ${
        result.after === null ? "unbound" : `bound to ${result.after}`
      }, nothing changed\n`,
  );
}

function oneDevice(positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError("missing DEVICE (a PCI address)");
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  return positionals[0]!;
}

const shared = {
  force: { type: "boolean", short: "f" },
  json: { type: "boolean" },
  ...ROOT_OPTIONS,
} as const;

/** A bind/unbind command line, checked. */
export interface BindArgs {
  readonly device: string;
  readonly driver: string;
  readonly force: boolean;
  readonly json: boolean;
  readonly root?: string;
}

/** Parses and checks `virtio bind`'s arguments (UsageError on a mistake). */
export function parseBindArgs(args: string[]): BindArgs {
  const { values, positionals } = parseArgs(args, { ...shared, driver: { type: "string" } });
  const device = oneDevice(positionals);
  if (values.driver === undefined || values.driver === "") {
    throw new UsageError("missing --driver NAME (vfio-pci, uio_pci_generic, virtio-pci ...)");
  }
  return checked(device, values.driver, values);
}

/** Parses and checks `virtio unbind`'s arguments; `driver` is "". */
export function parseUnbindArgs(args: string[]): BindArgs {
  const { values, positionals } = parseArgs(args, shared);
  return checked(oneDevice(positionals), "", values);
}

function checked(
  device: string,
  driver: string,
  values: { force?: boolean; json?: boolean; root?: string; sysfs?: string },
): BindArgs {
  const root = rootOption(values);
  return {
    device,
    driver,
    force: values.force === true,
    json: values.json === true,
    ...(root !== undefined ? { root } : {}),
  };
}

function devbindOptions(a: BindArgs, deps: DevbindOptions): DevbindOptions {
  return { ...deps, ...(a.root !== undefined ? { root: a.root } : {}), force: a.force };
}

/** Runs `virtio bind`; `deps` injects a fake kernel in tests. */
export function runBind(args: string[], io: CommandIO, deps: DevbindOptions = {}): number {
  const a = parseBindArgs(args);
  render(io, bindDevice(a.device, a.driver, devbindOptions(a, deps)), a.json);
  return 0;
}

/** Runs `virtio unbind`; `deps` injects a fake kernel in tests. */
export function runUnbind(args: string[], io: CommandIO, deps: DevbindOptions = {}): number {
  const a = parseUnbindArgs(args);
  render(io, unbindDevice(a.device, devbindOptions(a, deps)), a.json);
  return 0;
}

export const bindCommand: Command = {
  name: "bind",
  summary: "bind a virtio device to a driver (vfio-pci, virtio-pci ...)",
  usage: bindUsage,
  parse: parseBindArgs,
  run: (args, io) => Promise.resolve(runBind(args, io)),
};

export const unbindCommand: Command = {
  name: "unbind",
  summary: "unbind a virtio device from its driver",
  usage: unbindUsage,
  parse: parseUnbindArgs,
  run: (args, io) => Promise.resolve(runUnbind(args, io)),
};
