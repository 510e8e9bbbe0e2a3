/**
 * Runs INSIDE the lab guest: wall time of probing every virtio device, two ways —
 * `virtio probe --json` as a user runs it (a new Deno process each time, start-up included),
 * and `probeAll` in this process over the guest's /sys with read-only BAR access (the CLI's
 * options), after one warm-up call. Read-only: nothing is written to any device.
 * Prints one JSON line.
 *
 *   deno run -A bench/guest/probe_time.ts [--runs N] [--iterations N]
 */
import { parseArgs } from "node:util";
import { openDeviceBar } from "../../lib/device/bar_access.ts";
import { probeAll } from "../../lib/probe/probe.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    iterations: { type: "string", default: "20" },
  },
});

const cliMs: number[] = [];
let devices = 0;
for (let i = 0; i < Number(values.runs); i++) {
  const t0 = performance.now();
  const out = await new Deno.Command("virtio", { args: ["probe", "--json"], stderr: "null" })
    .output();
  cliMs.push(performance.now() - t0);
  if (!out.success) throw new Error(`virtio probe --json exited ${out.code}`);
  devices = JSON.parse(new TextDecoder().decode(out.stdout)).devices.length;
}

const options = {
  openBar: (a: string, b: number, o: { writable: boolean }) =>
    openDeviceBar(a, b, { writable: o.writable }),
};
probeAll(options); // warm-up: module code compiled, sysfs caches filled
const n = Number(values.iterations);
const t0 = performance.now();
for (let i = 0; i < n; i++) probeAll(options);
const inProcessMs = (performance.now() - t0) / n;

console.log(JSON.stringify({ kind: "probe-guest", devices, cliMs, inProcessMs, iterations: n }));
