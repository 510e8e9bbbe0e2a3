/**
 * Argument parsing on `node:util` parseArgs, turning its errors into UsageError (exit 2).
 *
 * One convention for every command: an option that takes a value takes the next word as
 * that value whatever it starts with, as getopt does, so `--qemu-arg -device` and
 * `--qemu-arg=-device` mean the same (node's parser alone refuses the first form as
 * "ambiguous"). A short option means one thing in every command ({@link SHORT_OPTIONS}), and
 * the filesystem root of fake trees is `--root DIR` everywhere ({@link rootOption}).
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

/**
 * What each short option stands for, in every command: a table giving `-d` to another option
 * is a programming error ({@link parseArgs} throws a plain Error, and the help-example test
 * runs every command's parser).
 */
export const SHORT_OPTIONS: Readonly<Record<string, string>> = {
  b: "batch",
  d: "devices",
  f: "force",
  n: "count",
  q: "quiet",
  r: "rate",
  s: "size",
  t: "type",
  v: "verbose",
};

function checkShorts(options: Options): void {
  for (const [name, o] of Object.entries(options)) {
    if (o.short !== undefined && SHORT_OPTIONS[o.short] !== name) {
      throw new Error(
        `option table: -${o.short} is --${SHORT_OPTIONS[o.short] ?? "(none)"} in every ` +
          `command, not --${name} (commands/args.ts SHORT_OPTIONS)`,
      );
    }
  }
}

/** Parses `args` strictly; unknown options and missing values are usage errors. */
export function parseArgs<T extends Options>(args: string[], options: T) {
  checkShorts(options);
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
 * A number of seconds ≥ `min` (fractions allowed); undefined stays undefined.
 */
export function secondsOption(
  name: string,
  value: string | undefined,
  min: number = 0,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  if (value.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number of seconds ≥ ${min}, got '${value}'`);
  }
  return n;
}

/** One of `allowed`; undefined → `fallback`. */
export function choiceOption<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got '${value}'`);
  }
  return value as T;
}

/** `--access MODE` of every takeover: a path, or auto (VFIO when in an IOMMU group). */
export function accessOption(value: string | undefined): "sysfs" | "vfio" | "auto" {
  return choiceOption("access", value, ["sysfs", "vfio", "auto"] as const, "auto");
}

/** The option table entries of the fake-tree root: `--root DIR`, `--sysfs DIR` its old name. */
export const ROOT_OPTIONS = {
  root: { type: "string" },
  sysfs: { type: "string" },
} as const;

/**
 * `--root DIR`: the filesystem root holding sys/ (and proc/, run/) for fake or recorded trees;
 * undefined when not given (the real "/"). `--sysfs DIR` (the sys directory itself) is kept
 * as a deprecated alias; giving both is a usage error.
 */
export function rootOption(values: { root?: string; sysfs?: string }): string | undefined {
  if (values.root !== undefined && values.sysfs !== undefined) {
    throw new UsageError("--root and --sysfs (its old name) exclude each other");
  }
  if (values.sysfs !== undefined) return sysfsParent(values.sysfs);
  if (values.root === "") throw new UsageError("--root needs a directory");
  return values.root;
}

/** The arguments of a command that takes only `--json` and the fake-tree root (status, restore). */
export function parseJsonRootArgs(args: string[]): { json: boolean; root: string | undefined } {
  const { values, positionals } = parseArgs(args, { json: { type: "boolean" }, ...ROOT_OPTIONS });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  return { json: values.json === true, root: rootOption(values) };
}

/** `<root>/sys`, the sysfs tree under a {@link rootOption} root. */
export function sysfsUnder(root: string): string {
  return `${root.replace(/\/+$/, "")}/sys`;
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
