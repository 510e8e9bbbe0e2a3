/**
 * The conformance-check model of `virtio conform`: one check per device-normative
 * requirement of VIRTIO 1.2, with the section it comes from and the rule in our own words.
 * A check first says whether it applies to this device (a feature not offered, a legacy
 * transport ...) and then runs against a {@link ConformContext}, returning what it saw.
 *
 * @module
 */
import type { ConformContext } from "./context.ts";

/** The outcome of one check that ran. */
export type Verdict = "pass" | "fail" | "skip";

/** What a check's run() returns. */
export interface CheckOutcome {
  /** pass: the device did what the rule requires; fail: it did not; skip: could not tell. */
  readonly verdict: Verdict;
  /** What the device did (for a fail: the offending value). */
  readonly seen?: string;
  /** What the rule requires. */
  readonly expected?: string;
  /** Why it was skipped, or more context. */
  readonly detail?: string;
}

/** One device-normative requirement and how to test it from the driver side. */
export interface Check {
  /** Stable dotted id: `pci.common.queue-size-pow2`. */
  readonly id: string;
  /** VIRTIO 1.2 section the rule is in, e.g. "4.1.4.3.1". */
  readonly section: string;
  /** The requirement, in our own words. */
  readonly requirement: string;
  /** true, or the reason the rule does not apply to this device. */
  applies(ctx: ConformContext): true | string;
  /** Tests the rule; may throw (the runner reports a throw as a fail with its message). */
  run(ctx: ConformContext): CheckOutcome;
  /** The check leaves the device in a state the next one must not inherit: reset after. */
  readonly resets?: boolean;
}

/** A passing outcome. */
export const pass = (
  seen?: string,
): CheckOutcome => (seen === undefined ? { verdict: "pass" } : { verdict: "pass", seen });

/** A failing outcome: what was seen against what the rule requires. */
export const fail = (seen: string, expected: string, detail?: string): CheckOutcome => ({
  verdict: "fail",
  seen,
  expected,
  ...(detail === undefined ? {} : { detail }),
});

/** A skipped outcome with its reason. */
export const skip = (detail: string): CheckOutcome => ({ verdict: "skip", detail });

/** pass when `ok`, else fail with seen/expected. */
export function expect(ok: boolean, seen: string, expected: string): CheckOutcome {
  return ok ? pass(seen) : fail(seen, expected);
}

/** `0x..` for register values in seen/expected strings. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}
