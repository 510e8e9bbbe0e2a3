/**
 * Long fuzz run of both ring formats (`deno task fuzz`). Stops at the iteration count or the
 * time limit, whichever comes first, and prints what happened. Exit code 1 on a failure,
 * with the seed that reproduces it (`fuzzIteration(seed, format)` in testing/sim_fuzz.ts).
 *
 *   deno task fuzz [--iterations N] [--seconds S] [--seed START] [--json]
 */
import { parseArgs } from "node:util";
import { FuzzFailure, fuzzIteration } from "../testing/sim_fuzz.ts";

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
  console.error("usage: bench/fuzz.ts [--iterations N>0] [--seconds S>0] [--seed INT] [--json]");
  Deno.exit(2);
}

const t0 = performance.now();
const deadline = t0 + seconds * 1000;
const totals = {
  split: { iterations: 0, progress: 0, deviceError: 0, hostile: 0, buffers: 0 },
  packed: { iterations: 0, progress: 0, deviceError: 0, hostile: 0, buffers: 0 },
};
let i = 0;
for (; i < iterations && performance.now() < deadline; i++) {
  for (const format of ["split", "packed"] as const) {
    const seed = start + i;
    try {
      const r = fuzzIteration(seed, format);
      const t = totals[format];
      t.iterations++;
      if (r.outcome === "progress") t.progress++;
      else t.deviceError++;
      if (r.hostile) t.hostile++;
      t.buffers += r.completed;
    } catch (e) {
      const why = e instanceof FuzzFailure ? e.message : String(e);
      console.error(`FAIL ${format} seed ${seed}: ${why}`);
      Deno.exit(1);
    }
  }
}
const elapsed = (performance.now() - t0) / 1000;
if (values.json) {
  console.log(JSON.stringify({ seconds: elapsed, firstSeed: start, ...totals }));
} else {
  console.log(`fuzzed ${i} seeds per format in ${elapsed.toFixed(1)} s, no failure`);
  for (const [format, t] of Object.entries(totals)) {
    console.log(
      `${format.padEnd(6)} iterations ${t.iterations}  hostile ${t.hostile}  ` +
        `ended in progress ${t.progress}  in DeviceError ${t.deviceError}  ` +
        `buffers returned ${t.buffers}`,
    );
  }
}
