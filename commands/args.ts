/**
 * Argument parsing on `node:util` parseArgs, turning its errors into UsageError (exit 2).
 *
 * One convention for every command: an option that takes a value takes the next word as
 * that value whatever it starts with, as getopt does, so `--qemu-arg -device` and
 * `--qemu-arg=-device` mean the same (node's parser alone refuses the first form as
 * "ambiguous").
 *
 * @module
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../lib/errors.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Rewrites `--opt VALUE` and `-o VALUE` of value-taking options into `--opt=VALUE`, so a
 * value that starts with '-' is taken as a value. Words after `--` are left alone.
 */
export function joinOptionValues(args: readonly string[], options: Options): string[] {
  const takesValue = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    takesValue.set(`--${name}`, name);
    if (o.short) takesValue.set(`-${o.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === "--") {
      out.push(...args.slice(i));
      break;
    }
    const name = takesValue.get(word);
    if (name !== undefined && i + 1 < args.length && args[i + 1] !== "--") {
      out.push(`--${name}=${args[++i]}`);
    } else {
      out.push(word);
    }
  }
  return out;
}

/** Parses `args` strictly; unknown options and missing values are usage errors. */
export function parseArgs<T extends Options>(args: string[], options: T) {
  try {
    return nodeParseArgs({
      args: joinOptionValues(args, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // The parser's whole message, on one line (some span several).
    throw new UsageError(
      e instanceof Error ? e.message.split("\n").map((l) => l.trim()).join(" ") : String(e),
    );
  }
}

/** Parses an integer option within [min, max]; undefined stays undefined. */
export function intOption(
  name: string,
  value: string | undefined,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

/**
 * `--sysfs DIR` names the `sys` directory; the BAR opener and the device layer take the
 * filesystem root above it. Undefined → "/". A DIR not called `sys` is a usage error.
 */
export function sysfsParent(sysfs: string | undefined): string {
  if (!sysfs) return "/";
  const trimmed = sysfs.replace(/\/+$/, "");
  if (!trimmed.endsWith("/sys")) throw new UsageError(`--sysfs must name a directory called sys`);
  return trimmed.slice(0, -4) || "/";
}
