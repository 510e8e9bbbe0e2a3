/**
 * The list of subcommands `main.ts` dispatches to. Adding a command = one import, one entry.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { labCommand } from "./lab.ts";
import { probeCommand } from "./probe.ts";

export const commands: readonly Command[] = [
  labCommand,
  probeCommand,
];
