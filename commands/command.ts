/**
 * What a subcommand is. Commands are thin: parse, call the library, render. They never
 * exit the process; they return an exit code or throw (UsageError → 2, other → 1), and
 * `main.ts` alone decides how the process ends.
 *
 * @module
 */

/** Where a command writes: results to `out` (stdout), progress and logs to `err` (stderr). */
export interface CommandIO {
  /** Writes results (stdout). */
  out(text: string): void;
  /** Writes progress, logs and errors (stderr). */
  err(text: string): void;
  /** True when colour may be used on stdout (a terminal and no NO_COLOR). */
  readonly color: boolean;
  /** Aborted on SIGINT/SIGTERM; long-running commands stop cleanly and release devices. */
  readonly signal: AbortSignal;
}

/** A subcommand of `virtio`: its name, help texts and what it runs. */
export interface Command {
  /** The word after `virtio` that selects it. */
  readonly name: string;
  /** One line for `virtio --help`. */
  readonly summary: string;
  /** Full text for `virtio <name> --help`. */
  readonly usage: string;
  /**
   * Checks a command line without touching any device, file or process: throws UsageError
   * where `run` would (the help-example test runs every example through it).
   */
  parse(args: string[]): unknown;
  /** Runs with the arguments after the command name. Returns the exit code. */
  run(args: string[], io: CommandIO): Promise<number>;
}
