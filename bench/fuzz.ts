/**
 * Long fuzz run of both ring formats (`deno task fuzz`), on the one-by-one path
 * (`fuzzIteration`) and the bulk slot path (`fuzzSlotsIteration`, testing/sim_fuzz.ts).
 * Stops at the iteration count or the time limit, whichever comes first, and prints what
 * happened. Exit code 1 on a failure, with the mode, format and seed that reproduce it.
 *
 *   deno task fuzz [--iterations N] [--seconds S] [--seed START] [--skip-known] [--json]
 *
 * --skip-known runs the bulk path without the switches that trip the bugs already pinned in
 * tests/unit/queue_add_slots_fuzz_found_test.ts (KNOWN_SLOT_BUGS_OFF), to look for others.
 */
import { parseArgs } from "node:util";
import {
  ALL_SLOT_CHECKS,
  FuzzFailure,
  fuzzIteration,
  type FuzzResult,
  fuzzSlotsIteration,
  KNOWN_SLOT_BUGS_OFF,
} from "../testing/sim_fuzz.ts";
import type { RingFormat } from "../lib/queue/virtqueue.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    iterations: { type: "string", default: "200000" },
    seconds: { type: "string", default: "60" },
    seed: { type: "string", default: "1" },
    "skip-known": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const iterations = Number(values.iterations);
const seconds = Number(values.seconds);
const start = Number(values.seed);
if (!(iterations > 0) || !(seconds > 0) || !Number.isInteger(start)) {
  console.error(
    "usage: bench/fuzz.ts [--iterations N>0] [--seconds S>0] [--seed INT] [--skip-known] [--json]",
  );
  Deno.exit(2);
}
const slotOptions = values["skip-known"] ? KNOWN_SLOT_BUGS_OFF : ALL_SLOT_CHECKS;

type Mode = "split" | "packed" | "split-slots" | "packed-slots";
const modes: [Mode, RingFormat, (seed: number, format: RingFormat) => FuzzResult][] = [
  ["split", "split", fuzzIteration],
  ["packed", "packed", fuzzIteration],
  ["split-slots", "split", (seed, f) => fuzzSlotsIteration(seed, f, slotOptions)],
  ["packed-slots", "packed", (seed, f) => fuzzSlotsIteration(seed, f, slotOptions)],
];
const totals = Object.fromEntries(
  modes.map(([m]) => [m, { iterations: 0, progress: 0, deviceError: 0, hostile: 0, buffers: 0 }]),
) as Record<
  Mode,
  Record<"iterations" | "progress" | "deviceError" | "hostile" | "buffers", number>
>;

const t0 = performance.now();
const deadline = t0 + seconds * 1000;
let i = 0;
for (; i < iterations && performance.now() < deadline; i++) {
  const seed = start + i;
  for (const [mode, format, run] of modes) {
    try {
      const r = run(seed, format);
      const t = totals[mode];
      t.iterations++;
      if (r.outcome === "progress") t.progress++;
      else t.deviceError++;
      if (r.hostile) t.hostile++;
      t.buffers += r.completed;
    } catch (e) {
      const why = e instanceof FuzzFailure ? e.message : String(e);
      console.error(`FAIL ${mode} seed ${seed}: ${why}`);
      Deno.exit(1);
    }
  }
}
const elapsed = (performance.now() - t0) / 1000;
if (values.json) {
  console.log(JSON.stringify({ seconds: elapsed, firstSeed: start, ...totals }));
} else {
  console.log(`fuzzed ${i} seeds per mode in ${elapsed.toFixed(1)} s, no failure`);
  for (const [mode, t] of Object.entries(totals)) {
    console.log(
      `${mode.padEnd(12)} iterations ${t.iterations}  hostile ${t.hostile}  ` +
        `ended in progress ${t.progress}  in DeviceError ${t.deviceError}  ` +
        `buffers returned ${t.buffers}`,
    );
  }
}
