/**
 * Long fuzz run of both ring formats (`deno task fuzz`), on the one-by-one path
 * (`fuzzIteration`, testing/sim_fuzz.ts) and the bulk slot path (`fuzzSlotsIteration`,
 * testing/sim_fuzz_slots.ts).
 * Stops at the iteration count or the time limit, whichever comes first, and prints what
 * happened. Exit code 1 on a failure, with the mode, format and seed that reproduce it.
 *
 *   deno task fuzz [--iterations N] [--seconds S] [--seed START] [--json]
 */
import { parseArgs } from "node:util";
import { FuzzFailure, fuzzIteration, type FuzzResult } from "../testing/sim_fuzz.ts";
import { ALL_SLOT_CHECKS, fuzzSlotsIteration } from "../testing/sim_fuzz_slots.ts";
import type { RingFormat } from "../lib/queue/virtqueue.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    iterations: { type: "string", default: "200000" },
    seconds: { type: "string", default: "60" },
    seed: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const iterations = Number(values.iterations);
const seconds = Number(values.seconds);
const start = Number(values.seed);
if (!(iterations > 0) || !(seconds > 0) || !Number.isInteger(start)) {
  console.error(
    "usage: bench/fuzz.ts [--iterations N>0] [--seconds S>0] [--seed INT] [--json]",
  );
  Deno.exit(2);
}
const slotOptions = ALL_SLOT_CHECKS;

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
