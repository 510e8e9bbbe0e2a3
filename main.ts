#!/usr/bin/env -S deno run -A
/**
 * The `virtio` command line. Dispatches to `commands/`, and alone decides the exit code:
 * 0 ok, 1 runtime failure, 2 usage error.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import type { CommandIO } from "./commands/command.ts";
import { commands } from "./commands/registry.ts";
import { colorAllowed } from "./lib/ansi.ts";
import { UsageError, VirtioError } from "./lib/errors.ts";

export const VERSION: string = denoJson.version;

function topUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `virtio ${VERSION} — probe and drive virtio PCI devices from Linux user space`,
    "",
    "Usage: virtio <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Options:",
    "  -h, --help     this help; `virtio <command> --help` for a command's",
    "  -V, --version  print the version",
    "",
    "Exit codes: 0 ok, 1 runtime failure, 2 usage error, 130 interrupted.",
  ].join("\n");
}

/** Runs the CLI with `args`; returns the exit code. Exported for tests. */
export async function run(args: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    if (name === "help" && rest[0]) return run([rest[0], "--help"], io);
    io.out(topUsage() + "\n");
    return name === undefined ? 2 : 0;
  }
  if (name === "-V" || name === "--version") {
    io.out(`virtio ${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command '${name}'`);
    if (rest.includes("-h") || rest.includes("--help")) {
      const dash = rest.indexOf("--");
      const helpAt = Math.max(rest.indexOf("-h"), rest.indexOf("--help"));
      if (dash === -1 || helpAt < dash) {
        io.out(command.usage.trimEnd() + "\n");
        return 0;
      }
    }
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      const help = command ? `virtio ${command.name} --help` : "virtio --help";
      io.err(`virtio: ${e.message}\nTry '${help}'.\n`);
      return 2;
    }
    if (e instanceof VirtioError) {
      io.err(`virtio: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}`);
      return 1;
    }
    if (io.signal.aborted) {
      io.err(`virtio: interrupted\n`);
      return 130;
    }
    io.err(`virtio: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

function processIO(): CommandIO & { cleanup(): void } {
  const enc = new TextEncoder();
  const writeAll = (file: typeof Deno.stdout, text: string) => {
    let bytes = enc.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
  };
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      // Second Ctrl-C: the user insists. Cleanup handlers registered via `using` have had
      // their chance; leave now.
      Deno.exit(130);
    }
    controller.abort(new Error("interrupted by signal"));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const color = colorAllowed(Deno.stdout);
  return {
    out: (t) => writeAll(Deno.stdout, t),
    err: (t) => writeAll(Deno.stderr, t),
    color,
    signal: controller.signal,
    cleanup() {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    },
  };
}

if (import.meta.main) {
  const io = processIO();
  const code = await run(Deno.args, io);
  io.cleanup();
  Deno.exit(code);
}
