/**
 * Runs a list of conformance checks against one device and builds the `virtio-conform/1`
 * report. A check that throws is a fail carrying the message; the device is reset after
 * every check that ran, so no check inherits another's state (§2.4 device reset).
 *
 * @module
 */
import { deviceTypeName } from "../virtio/device_types.ts";
import type { Check } from "./check.ts";
import type { ConformContext } from "./context.ts";

/** Schema name of the JSON report (docs/conformance.md). */
export const CONFORM_SCHEMA = "virtio-conform/1";

/** One requirement's verdict: na = not applicable (with the reason in detail). */
export interface ConformResult {
  /** Check id. */
  readonly id: string;
  /** VIRTIO 1.2 section. */
  readonly section: string;
  /** The requirement in our words. */
  readonly requirement: string;
  /** pass, fail, na (does not apply) or skip. */
  readonly verdict: "pass" | "fail" | "na" | "skip";
  /** What the device did. */
  readonly seen?: string;
  /** What the requirement asks (fails). */
  readonly expected?: string;
  /** Why not applicable or skipped, or more context. */
  readonly detail?: string;
}

/** The whole report. */
export interface ConformReport {
  /** Always {@link CONFORM_SCHEMA}. */
  readonly schema: typeof CONFORM_SCHEMA;
  /** The device checked. */
  readonly device: {
    /** PCI address. */
    readonly address: string;
    /** Virtio device type (§5). */
    readonly type: number;
    /** Its name (net, block ...). */
    readonly typeName: string;
    /** Transport used. */
    readonly transport: "modern" | "legacy";
    /** Offered feature bits, hex. */
    readonly features: string;
  };
  /** One entry per check, in run order. */
  readonly results: readonly ConformResult[];
  /** Counts per verdict. */
  readonly summary: { pass: number; fail: number; na: number; skip: number };
}

const message = (e: unknown) => e instanceof Error ? e.message : String(e);

/** Runs one check (reset after it when it ran) and returns its verdict. */
export function runOne(ctx: ConformContext, check: Check): ConformResult {
  const base = { id: check.id, section: check.section, requirement: check.requirement };
  let r: ConformResult;
  let ran = false;
  try {
    const applies = check.applies(ctx);
    if (applies !== true) r = { ...base, verdict: "na", detail: applies };
    else {
      ran = true;
      r = { ...base, ...check.run(ctx) };
    }
  } catch (e) {
    r = { ...base, verdict: "fail", seen: `error: ${message(e)}`, expected: "no error" };
  }
  if (ran) {
    try {
      ctx.transport.reset();
    } catch (e) {
      ctx.log(`${check.id}: reset after the check failed: ${message(e)}`);
    }
  }
  return r;
}

/** The report for `results` of the device behind `ctx`. */
export function buildReport(ctx: ConformContext, results: readonly ConformResult[]): ConformReport {
  let features = "?";
  try {
    features = `0x${ctx.transport.deviceFeatures().toString(16)}`;
  } catch (e) {
    ctx.log(`reading the offered features: ${message(e)}`);
  }
  const summary = { pass: 0, fail: 0, na: 0, skip: 0 };
  for (const r of results) summary[r.verdict]++;
  return {
    schema: CONFORM_SCHEMA,
    device: {
      address: ctx.address,
      type: ctx.deviceType,
      typeName: deviceTypeName(ctx.deviceType),
      transport: ctx.transport.kind,
      features,
    },
    results,
    summary,
  };
}

/** Runs `checks` in order; `onResult` sees each verdict as it is decided. */
export function runChecks(
  ctx: ConformContext,
  checks: readonly Check[],
  onResult?: (r: ConformResult) => void,
): ConformReport {
  const results = checks.map((c) => {
    const r = runOne(ctx, c);
    onResult?.(r);
    return r;
  });
  return buildReport(ctx, results);
}

/**
 * Like runChecks, but lets the event loop turn between checks so SIGINT/SIGTERM abort the
 * run: the checks not run are reported skipped ("interrupted").
 */
export async function runChecksAsync(
  ctx: ConformContext,
  checks: readonly Check[],
  o: {
    signal?: AbortSignal;
    onResult?: (r: ConformResult) => void;
    turn?: () => Promise<void>;
  } = {},
): Promise<ConformReport> {
  const results: ConformResult[] = [];
  for (const c of checks) {
    await (o.turn ?? (() => new Promise<void>((r) => setTimeout(r, 0))))();
    const r: ConformResult = o.signal?.aborted
      ? {
        id: c.id,
        section: c.section,
        requirement: c.requirement,
        verdict: "skip",
        detail: "interrupted",
      }
      : runOne(ctx, c);
    results.push(r);
    o.onResult?.(r);
  }
  return buildReport(ctx, results);
}

/** The checks whose id matches `only` (all when undefined). */
export function selectChecks(checks: readonly Check[], only?: RegExp): Check[] {
  return only ? checks.filter((c) => only.test(c.id)) : [...checks];
}
