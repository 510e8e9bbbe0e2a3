/**
 * Runs INSIDE the lab guest: one long `virtio pktgen` transmit run (64-byte frames, full
 * speed) in this process, sampling `Deno.memoryUsage().heapUsed` each time the run reports
 * an interval (once a second) — the question is whether the JS heap grows while packets
 * flow. Prints one {@link HeapRecord} JSON line on stdout.
 *
 *   deno run -A bench/guest/heap.ts ADDRESS SECONDS
 */
import { runPktgen } from "../../commands/pktgen.ts";
import type { HeapRecord } from "./parse.ts";

const [address, secondsArg] = Deno.args;
const seconds = Number(secondsArg);
if (!address || !(seconds > 0)) {
  console.error("usage: bench/guest/heap.ts ADDRESS SECONDS");
  Deno.exit(2);
}
if (Deno.env.get("VIRTIO_BENCH_GUEST") !== "1") {
  console.error("bench/guest/heap.ts takes a NIC over: it runs only inside the lab guest");
  Deno.exit(2);
}

const t0 = performance.now();
const samples: [number, number][] = [];
const sample = () => samples.push([(performance.now() - t0) / 1000, Deno.memoryUsage().heapUsed]);
let summary = "";
const txSamples: number[] = [];
const record: HeapRecord = { kind: "heap", address, seconds, samples, txPps: null, txSamples };
sample();
try {
  const code = await runPktgen(
    [address, "--size", "64", "--duration", String(seconds), "--json", "--interval", "1"]
      .concat(["--quiet", "--force", "--access", "sysfs"]),
    {
      out: (text) => {
        if (text.includes('"interval"')) {
          sample();
          txSamples.push(JSON.parse(text).tx.pps);
        } else if (text.includes('"summary"')) summary = text;
      },
      err: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
      color: false,
      signal: new AbortController().signal,
    },
  );
  sample();
  const doc = summary ? JSON.parse(summary) : undefined;
  record.txPps = doc?.summary?.tx?.pps ?? null;
  if (code !== 0) record.error = `virtio pktgen exited ${code}`;
} catch (e) {
  record.error = e instanceof Error ? e.message : String(e);
}
console.log(JSON.stringify(record));
