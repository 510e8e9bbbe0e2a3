/**
 * A {@link CommandIO} that records what a command writes, for testing commands (ours or a
 * script's) in-process: `await command.run(args, io)`, then look at `io.stdout`/`io.stderr`.
 *
 * @module
 */
import type { CommandIO } from "../commands/command.ts";

/** A CommandIO whose output is kept in `stdout` and `stderr`. */
export interface RecordingIO extends CommandIO {
  /** Everything written to `out`, in order. */
  stdout: string;
  /** Everything written to `err`, in order. */
  stderr: string;
}

/** A fresh recording IO; colour off and a never-aborted signal unless given. */
export function recordingIO(
  options: { color?: boolean; signal?: AbortSignal } = {},
): RecordingIO {
  const io: RecordingIO = {
    stdout: "",
    stderr: "",
    color: options.color ?? false,
    signal: options.signal ?? new AbortController().signal,
    out(text) {
      io.stdout += text;
    },
    err(text) {
      io.stderr += text;
    },
  };
  return io;
}
