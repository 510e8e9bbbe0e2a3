/**
 * `virtio lab`: boot a throwaway QEMU VM with real virtio devices and run a command in it.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { intOption, parseArgs } from "./args.ts";
import { UsageError } from "../lib/errors.ts";
import { DEVICE_SETS, DEVICES, pciAddress } from "../lib/lab/devices.ts";
import { runInLab } from "../lib/lab/vm.ts";

const usage = `Usage: virtio lab [options] [-- COMMAND [ARG...]]

Boots a throwaway QEMU VM (KVM when a short test boot shows it works, else TCG, QEMU's
software emulation; VIRTIO_LAB_ACCEL=kvm|tcg forces one) with real QEMU virtio devices and
runs COMMAND in it as root; the host's / is the guest's / (read-only over virtio-9p), /tmp is
the guest's own. 'virtio' and 'deno' are on the guest's PATH. Prints COMMAND's stdout; its
stderr and the guest console go to stderr. Exits with COMMAND's exit code.
Default COMMAND: virtio probe.

Options:
  -d, --devices SPEC    device sets and/or devices, comma-separated (default: default)
      --qemu-arg ARG    extra QEMU argument, repeatable (bring your own device under test)
      --capture NAME    dump the traffic of lab NIC NAME (one per run) to --capture-file
      --capture-file F  where to write the pcap of --capture (both or neither)
      --timeout SECS    wall-clock limit; a hung guest is killed (default 300)
      --memory MIB      guest memory (default 1024)
      --no-drivers      load no virtio device drivers: every device driverless (by
                        default the driver of every virtio device present is loaded,
                        --qemu-arg devices included, as on a real VM)
      --list            list device sets and devices with their PCI addresses
  -q, --quiet           show only the command's stderr, not the boot and kernel lines
  -h, --help            this help

Examples:
  virtio lab                               # probe the default devices
  virtio lab -d probe -- virtio probe --json
  virtio lab -d net-pair -- virtio pktgen 0000:00:04.0 --count 1000
  virtio lab -d none --qemu-arg -device --qemu-arg virtio-rng-pci,addr=1e -- virtio probe
`;

function listing(): string {
  const lines = ["Device sets:"];
  for (const [name, members] of Object.entries(DEVICE_SETS)) {
    lines.push(`  ${name.padEnd(10)} ${members.join(", ") || "(lab shares only)"}`);
  }
  lines.push("", "Devices:");
  for (const d of Object.values(DEVICES)) {
    const given = Object.entries(d.given).map(([k, v]) => `${k}=${v}`).join(" ");
    lines.push(
      `  ${d.name.padEnd(12)} ${pciAddress(d.slot)}  1af4:${
        d.pciDeviceId.toString(16).padStart(4, "0")
      }  ${given}`,
    );
  }
  lines.push(
    "",
    "Always present: the lab's own virtio-9p shares at 0000:00:02.0 (root) and 0000:00:03.0.",
  );
  return lines.join("\n") + "\n";
}

/**
 * Parses and checks `virtio lab`'s arguments (UsageError on a mistake): the lab's options,
 * and the guest command after `--` (default `virtio probe`), or "list" for --list.
 */
export function parseLabArgs(args: string[]) {
  const dash = args.indexOf("--");
  const own = dash >= 0 ? args.slice(0, dash) : args;
  const command = dash >= 0 ? args.slice(dash + 1) : ["virtio", "probe"];
  const { values, positionals } = parseArgs(own, {
    devices: { type: "string", short: "d", default: "default" },
    "qemu-arg": { type: "string", multiple: true },
    capture: { type: "string", multiple: true },
    "capture-file": { type: "string" },
    timeout: { type: "string" },
    memory: { type: "string" },
    list: { type: "boolean" },
    "no-drivers": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
  });
  if (positionals.length) {
    throw new UsageError(`unexpected '${positionals[0]}': put the guest command after --`);
  }
  if (values.list) return "list";
  if (command.length === 0) throw new UsageError("no command after --");
  // One NIC per run goes to one file: a --capture without a file (or a second one) would be
  // taken and thrown away.
  const captures = values.capture?.length ?? 0;
  if ((captures > 0 || values["capture-file"]) && !(captures === 1 && values["capture-file"])) {
    throw new UsageError("--capture NAME and --capture-file FILE go together, one NIC per run");
  }
  const timeout = intOption("timeout", values.timeout, 10, 86400) ?? 300;
  const memoryMiB = intOption("memory", values.memory, 256, 16384);
  return { values, command, timeout, memoryMiB };
}

export const labCommand: Command = {
  name: "lab",
  summary: "boot a throwaway QEMU VM with real virtio devices and run a command in it",
  usage,
  parse: parseLabArgs,
  async run(args, io) {
    const a = parseLabArgs(args);
    if (a === "list") {
      io.out(listing());
      return 0;
    }
    const { values, command, timeout, memoryMiB } = a;
    // Quiet: hide the lab's own and the kernel's lines, keep the command's stderr.
    let ready = false;
    const onConsole = (line: string) => {
      if (line.startsWith("lab: ready")) ready = true;
      const chatter = line.startsWith("lab: ") || /^\[\s*\d+\.\d+\]/.test(line) ||
        line.startsWith("qemu-system-x86_64: warning: hub");
      if (!values.quiet || (ready && !chatter)) io.err(line + "\n");
    };
    const result = await runInLab({
      devices: values.devices,
      command,
      qemuArgs: values["qemu-arg"] ?? [],
      capture: values.capture ?? [],
      timeoutMs: timeout * 1000,
      memoryMiB,
      noDrivers: values["no-drivers"] === true,
      onConsole,
    }).catch((e) => {
      if (e instanceof Error && /unknown lab device/.test(e.message)) {
        throw new UsageError(e.message);
      }
      throw e;
    });
    io.out(result.stdout);
    const name = values.capture?.[0];
    if (name && values["capture-file"]) {
      await Deno.writeFile(values["capture-file"], result.captures[name] ?? new Uint8Array());
    }
    io.err(
      `lab: ${result.accel}, boot ${(result.bootMs / 1000).toFixed(1)} s, total ${
        (result.totalMs / 1000).toFixed(1)
      } s, exit ${result.code}\n`,
    );
    return result.code;
  },
};
