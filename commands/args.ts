/**
 * Argument parsing on `node:util` parseArgs, turning its errors into UsageError (exit 2).
 *
 * @module
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../lib/errors.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `args` strictly; unknown options and missing values are usage errors. */
export function parseArgs<T extends Options>(args: string[], options: T) {
  try {
    return nodeParseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split("\n")[0]! : String(e));
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
