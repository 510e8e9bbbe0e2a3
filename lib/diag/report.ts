/**
 * The result of `virtio diag`: per device, a list of named checks, each pass / warn / fail /
 * skip with a one-line reason. JSON-safe; `docs/diag-json.md` documents every field and the
 * `schema` string changes when a field changes meaning.
 *
 * @module
 */

/** The schema id of `virtio diag --json`. */
export const DIAG_SCHEMA = "virtio-diag/1";

/** How one check ended. Only `fail` makes the run fail; `warn` is worth a look. */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

/** One named check (`pci.config`, `virtio.features`, `net.selftest` ...). */
export interface CheckResult {
  /** Dotted check name, stable across versions (`virtio.status`). */
  readonly name: string;
  /** How it ended. */
  readonly status: CheckStatus;
  /** One line saying why. */
  readonly reason: string;
  /** Milliseconds the check took (active checks only). */
  readonly ms?: number;
}

/** Every check of one device, and its verdict (the worst status, skip counting as pass). */
export interface DeviceDiagnosis {
  /** Canonical PCI address. */
  readonly address: string;
  /** Virtio device type name (net, blk, ...). */
  readonly type: string;
  /** Which virtio PCI interface the device has (§4.1.2). */
  readonly kind: "modern" | "transitional" | "legacy";
  /** The PCI driver bound when diag started (virtio-pci, vfio-pci ...). */
  readonly driver?: string;
  /** The worst status of its checks. */
  readonly verdict: "pass" | "warn" | "fail";
  /** Every check, in a fixed order. */
  readonly checks: readonly CheckResult[];
}

/** Counts of each status over all devices. */
export interface DiagSummary {
  /** Devices diagnosed. */
  readonly devices: number;
  /** Checks that passed. */
  readonly pass: number;
  /** Checks that warned. */
  readonly warn: number;
  /** Checks that failed. */
  readonly fail: number;
  /** Checks that could not be judged. */
  readonly skip: number;
}

/** What `virtio diag --json` prints. */
export interface DiagReport {
  /** {@link DIAG_SCHEMA}. */
  readonly schema: typeof DIAG_SCHEMA;
  /** `--active` was given. */
  readonly active: boolean;
  /** True when no check failed (the exit code is 0 exactly then). */
  readonly ok: boolean;
  /** Status counts. */
  readonly summary: DiagSummary;
  /** One entry per device, by address. */
  readonly devices: readonly DeviceDiagnosis[];
}

/** The worst status of `checks`: fail > warn > pass; skips do not count. */
export function verdictOf(checks: readonly CheckResult[]): DeviceDiagnosis["verdict"] {
  if (checks.some((c) => c.status === "fail")) return "fail";
  if (checks.some((c) => c.status === "warn")) return "warn";
  return "pass";
}

/** Builds the report, counting statuses. */
export function makeReport(
  devices: readonly DeviceDiagnosis[],
  active: boolean,
): DiagReport {
  const count = (s: CheckStatus) =>
    devices.reduce((n, d) => n + d.checks.filter((c) => c.status === s).length, 0);
  const summary: DiagSummary = {
    devices: devices.length,
    pass: count("pass"),
    warn: count("warn"),
    fail: count("fail"),
    skip: count("skip"),
  };
  return { schema: DIAG_SCHEMA, active, ok: summary.fail === 0, summary, devices };
}

/** Shorthands for building check results. */
export const check = {
  pass: (name: string, reason: string): CheckResult => ({ name, status: "pass", reason }),
  warn: (name: string, reason: string): CheckResult => ({ name, status: "warn", reason }),
  fail: (name: string, reason: string): CheckResult => ({ name, status: "fail", reason }),
  skip: (name: string, reason: string): CheckResult => ({ name, status: "skip", reason }),
};
