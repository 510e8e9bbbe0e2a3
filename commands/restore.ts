/**
 * `virtio restore [--json]`: gives back every device a virtio process took over and did not
 * return (it was killed, e.g. SIGKILL): the claim records under /run/virtio-toolkit/claims
 * say which driver each device had.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { parseJsonRootArgs } from "./args.ts";
import { restoreAbandonedClaims } from "../lib/device/claim.ts";
import type { SysfsOptions } from "../lib/pci/binding.ts";

const usage = `Usage: virtio restore [options]

Gives back every device whose virtio process died without giving it back (killed with
SIGKILL, a crash, a power cut of the process): the command register, driver_override and
the original driver, as its claim record says. Devices of running processes are left alone.
Any later takeover of such a device does the same for it first.

Options:
      --json       machine-readable output: {"schema":"virtio-restore/1","restored":[...]}
      --root DIR   filesystem root holding sys/, proc/, run/ (default /; for fake trees)
  -h, --help       this help

Examples:
  virtio restore
  virtio restore --json --root /tmp/fake-tree

Exit code 1 when a device could not be given back.`;

export const RESTORE_SCHEMA = "virtio-restore/1";

/** Runs `virtio restore`; `deps` injects a fake kernel in tests. */
export function runRestore(args: string[], io: CommandIO, deps: SysfsOptions = {}): number {
  const { json, root } = parseJsonRootArgs(args);
  const restored = restoreAbandonedClaims({ ...deps, ...(root !== undefined ? { root } : {}) });
  if (json) {
    io.out(JSON.stringify({ schema: RESTORE_SCHEMA, restored }, null, 2) + "\n");
  } else if (restored.length === 0) {
    io.out("nothing to restore\n");
  } else {
    for (const r of restored) {
      const to = r.originalDriver ?? "no driver";
      io.out(
        r.error === null
          ? `${r.address}: given back to ${to} (process ${r.pid} is gone)\n`
          : `${r.address}: giving back to ${to} failed: ${r.error}\n`,
      );
    }
  }
  return restored.some((r) => r.error !== null) ? 1 : 0;
}

export const restoreCommand: Command = {
  name: "restore",
  summary: "give back devices a killed virtio process left taken over",
  usage,
  parse: parseJsonRootArgs,
  run: (args, io) => Promise.resolve(runRestore(args, io)),
};
