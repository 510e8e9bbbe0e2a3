/**
 * Running host programs for the lab (apt-get, dpkg-deb, busybox): output captured, failures
 * turned into errors that name the command.
 *
 * @module
 */
import { VirtioError } from "../errors.ts";

/** Runs `cmd` and returns its stdout; throws with its stderr when it fails or is missing. */
export async function exec(
  cmd: string[],
  options: { cwd?: string; stdin?: Uint8Array; hint?: string } = {},
): Promise<string> {
  const [program, ...args] = cmd;
  let child;
  try {
    child = new Deno.Command(program!, {
      args,
      cwd: options.cwd,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new VirtioError(`'${program}' is not installed`, {
        hint: options.hint ?? "run the project's setup: ./run setup",
      });
    }
    throw e;
  }
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new VirtioError(`'${cmd.join(" ")}' failed (exit ${out.code}): ${err}`, {
      hint: options.hint,
    });
  }
  return new TextDecoder().decode(out.stdout);
}
