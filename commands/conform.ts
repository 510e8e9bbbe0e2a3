/**
 * `virtio conform ADDR [--only REGEX] [--list] [--json] [--junit FILE] [--force]`: takes a
 * device over (the same refusal and give-back rules as pktgen, through
 * VirtioPciDevice.open) and checks it against VIRTIO 1.2's device-normative requirements,
 * one verdict per requirement. The checks are in lib/conform/; this parses and renders.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { accessOption, parseArgs } from "./args.ts";
import { UsageError, VirtioError } from "../lib/errors.ts";
import { normalizePciAddress } from "../lib/pci/address.ts";
import { type AccessPath, VirtioPciDevice } from "../lib/driver/virtio_pci_device.ts";
import type { ConformContext } from "../lib/conform/context.ts";
import { deviceContext } from "../lib/conform/open.ts";
import { CONFORM_CHECKS } from "../lib/conform/registry.ts";
import { CONFORM_SCHEMA, runChecksAsync, selectChecks } from "../lib/conform/run.ts";
import {
  renderCheckList,
  renderConformJson,
  renderConformJUnit,
  renderConformText,
} from "../lib/conform/render.ts";
import { yieldToEventLoop } from "../lib/pktgen/run/session.ts";

const usage = `Usage: virtio conform DEVICE [options]
       virtio conform --list [--only REGEX]

Checks a virtio PCI device against the device-normative requirements of VIRTIO 1.2 from
the driver side: PCI transport (§4.1), status and negotiation (§2.1, §2.2, §3.1, §6),
split and packed virtqueues (§2.7, §2.8), and per type net (§5.1), blk (§5.2), console
(§5.3), rng (§5.4). One line per requirement: PASS, FAIL (seen vs expected), N/A (feature
not offered, other device type) or SKIP, with its section.

The device is taken over (root; refused when it looks in use unless --force), reset
between checks, and given back to its driver on every exit path, Ctrl-C included. The
checks write the device's registers, its pci_cfg window, and on a disk the last sector
(read first, written back after). Never point it at a device the system needs.

Arguments:
  DEVICE             PCI address (0000:00:04.0 or 00:04.0)

Options:
      --only REGEX   run only the checks whose id matches REGEX (e.g. '^pci\\.' or 'vq\\.split')
      --list         print the checks (id, section, requirement) and their count; no device
      --json         one JSON document (schema ${CONFORM_SCHEMA}, docs/conformance.md)
      --junit FILE   also write JUnit XML (one testcase per check)
      --force        take the device even when it looks in use
      --access MODE  auto (default: vfio when in an IOMMU group), sysfs or vfio
      --legacy       use a transitional device's legacy interface
  -h, --help         this help

Examples:
  virtio conform --list --only '^vq\\.'
  virtio conform 00:04.0 --only 'vq\\.split' --json
  virtio conform 00:05.0 --access sysfs --junit conform.xml

Exit codes: 0 every check passed or did not apply, 1 a check failed, 2 usage error,
130 interrupted (the checks not run are reported SKIP).`;

/** Injectable device opener for tests. */
export interface ConformDeps {
  readonly open?: (
    address: string,
    o: { access: AccessPath | "auto"; force: boolean; legacy: boolean; log: (l: string) => void },
  ) => ConformContext & Disposable;
}

/** The real opener: VirtioPciDevice.open, then a context; disposing gives the device back. */
function openDevice(
  address: string,
  o: { access: AccessPath | "auto"; force: boolean; legacy: boolean; log: (l: string) => void },
): ConformContext & Disposable {
  const dev = VirtioPciDevice.open(address, o);
  try {
    const ctx = deviceContext(dev, o.log);
    return {
      ...ctx,
      [Symbol.dispose]() {
        try {
          ctx[Symbol.dispose]();
        } finally {
          dev.close();
        }
      },
    };
  } catch (e) {
    dev.close();
    throw e;
  }
}

/** Parses and checks `virtio conform`'s arguments (UsageError on a mistake). */
export function parseConformArgs(args: string[]) {
  const { values, positionals } = parseArgs(args, {
    only: { type: "string" },
    list: { type: "boolean" },
    json: { type: "boolean" },
    junit: { type: "string" },
    force: { type: "boolean" },
    access: { type: "string" },
    legacy: { type: "boolean" },
  });
  let only: RegExp | undefined;
  if (values.only !== undefined) {
    try {
      only = new RegExp(values.only);
    } catch (e) {
      throw new UsageError(
        `--only: not a regular expression: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  const checks = selectChecks(CONFORM_CHECKS, only);
  if (values.list) {
    if (positionals.length) throw new UsageError("--list takes no device");
    return { values, checks, access: accessOption(values.access), address: undefined };
  }
  if (positionals.length !== 1) throw new UsageError("give exactly one device address");
  if (checks.length === 0) throw new UsageError(`--only '${values.only}' matches no check`);
  const access = accessOption(values.access);
  return { values, checks, access, address: normalizePciAddress(positionals[0]!) };
}

/** Runs `virtio conform` with `args`; returns the exit code. */
export async function runConform(
  args: string[],
  io: CommandIO,
  deps: ConformDeps = {},
): Promise<number> {
  const { values, checks, access, address } = parseConformArgs(args);
  if (address === undefined) {
    io.out(renderCheckList(checks));
    return 0;
  }
  const log = (l: string) => io.err(`${l}\n`);
  using ctx = (deps.open ?? openDevice)(address, {
    access,
    force: values.force === true,
    legacy: values.legacy === true,
    log,
  });
  const report = await runChecksAsync(ctx, checks, {
    signal: io.signal,
    turn: yieldToEventLoop,
    onResult: (r) => {
      if (!values.json) log(`${r.verdict.padEnd(4)} ${r.id}`);
    },
  });
  if (values.junit !== undefined) {
    try {
      Deno.writeTextFileSync(values.junit, renderConformJUnit(report));
    } catch (e) {
      throw new VirtioError(`cannot write ${values.junit}: ${e instanceof Error ? e.message : e}`);
    }
  }
  io.out(values.json ? renderConformJson(report) : renderConformText(report, { color: io.color }));
  if (io.signal.aborted) {
    io.err("virtio conform: interrupted; the device was given back\n");
    return 130;
  }
  return report.summary.fail === 0 ? 0 : 1;
}

export const conformCommand: Command = {
  name: "conform",
  summary: "check a device against VIRTIO 1.2 device requirements (takes it over)",
  usage,
  parse: parseConformArgs,
  run: (args, io) => runConform(args, io),
};
