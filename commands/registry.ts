/**
 * The list of subcommands `main.ts` dispatches to. Adding a command = one import, one entry.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { bindCommand, unbindCommand } from "./bind.ts";
import { blkgenCommand } from "./blkgen.ts";
import { conformCommand } from "./conform.ts";
import { diagCommand } from "./diag.ts";
import { labCommand } from "./lab.ts";
import { pktgenCommand } from "./pktgen.ts";
import { probeCommand } from "./probe.ts";
import { restoreCommand } from "./restore.ts";
import { statusCommand } from "./status.ts";

export const commands: readonly Command[] = [
  labCommand,
  pktgenCommand,
  blkgenCommand,
  probeCommand,
  statusCommand,
  bindCommand,
  unbindCommand,
  restoreCommand,
  diagCommand,
  conformCommand,
];
