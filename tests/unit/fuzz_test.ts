/**
 * Bounded fuzz of both ring formats against a simulated device that is honest in some
 * iterations and writes arbitrary used entries, indices, flags and lengths in others — on the
 * one-by-one path (addOne/addBuffer/pollUsed) and the bulk slot path (addSlots/pollSlots).
 * Longer runs: `deno task fuzz`.
 */
import assert from "node:assert/strict";
import { fuzzIteration, type FuzzResult, prng } from "../../testing/sim_fuzz.ts";
import { ALL_SLOT_CHECKS, fuzzSlotsIteration } from "../../testing/sim_fuzz_slots.ts";

const ITERATIONS = 2000;

/** Runs ITERATIONS seeds and counts outcomes; both outcomes must actually occur, or the harness is not exercising anything. */
function tally(iteration: (seed: number) => FuzzResult, minCompletedPerIteration: number): void {
  const counts = { progress: 0, "device-error": 0, honest: 0, completed: 0 };
  for (let seed = 1; seed <= ITERATIONS; seed++) {
    const r = iteration(seed);
    counts[r.outcome]++;
    if (!r.hostile) counts.honest++;
    counts.completed += r.completed;
  }
  assert.ok(counts["device-error"] > ITERATIONS / 10, JSON.stringify(counts));
  assert.ok(counts.progress > ITERATIONS / 4, JSON.stringify(counts));
  assert.ok(counts.honest > ITERATIONS / 4, JSON.stringify(counts));
  assert.ok(counts.completed > ITERATIONS * minCompletedPerIteration, JSON.stringify(counts));
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`fuzz ${format}: ${ITERATIONS} seeded iterations end in progress or DeviceError`, () => {
    tally((seed) => fuzzIteration(seed * 7919 + (format === "split" ? 0 : 1), format), 5);
  });

  // Every switch on (caller mistakes, stride mistakes, pollUsed); the bugs it found are pinned
  // at the end of queue_add_slots_test.ts.
  Deno.test(`fuzz ${format} bulk slots: ${ITERATIONS} seeded iterations of addSlots/pollSlots`, () => {
    tally((seed) => fuzzSlotsIteration(seed * 104729 + 3, format, ALL_SLOT_CHECKS), 20);
  });
}

Deno.test("prng is deterministic per seed", () => {
  const a = prng(42), b = prng(42), c = prng(43);
  const xs = [a(), a(), a()];
  assert.deepEqual(xs, [b(), b(), b()]);
  assert.notDeepEqual(xs, [c(), c(), c()]);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});
