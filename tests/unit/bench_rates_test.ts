import assert from "node:assert/strict";
import {
  keptSamples,
  type RateRecord,
  summarizeRates,
  type WireRateRecord,
} from "../../bench/guest/parse.ts";
import {
  type LabRatesResult,
  labRatesText,
  ratesChartSvg,
  ratiosOf,
} from "../../bench/lab_rates.ts";

function rec(
  tool: RateRecord["tool"],
  round: number,
  samples: number[],
  more: Partial<WireRateRecord> = {},
): WireRateRecord {
  const warmup = tool === "virtio" ? 2 : tool === "testpmd" ? 1 : 0;
  const steady = samples.slice(warmup).sort((a, b) => a - b);
  return {
    kind: "rate",
    direction: "tx",
    tool,
    nic: "net-modern",
    address: "0000:00:04.0",
    size: 64,
    round,
    warmup,
    pps: steady[steady.length >> 1] ?? null,
    samples,
    ...more,
  };
}

Deno.test("keptSamples: drops the record's warm-up; a total stands alone; a failure has none", () => {
  assert.deepEqual(keptSamples(rec("virtio", 1, [1, 2, 30, 40, 50])), [30, 40, 50]);
  assert.deepEqual(keptSamples(rec("testpmd", 1, [9, 5, 6])), [5, 6]);
  // Too few samples: the last one, as steadyRate does.
  assert.deepEqual(keptSamples(rec("virtio", 1, [1, 7], { pps: 7 })), [7]);
  assert.deepEqual(keptSamples(rec("kernel", 1, [], { pps: 123 })), [123]);
  assert.deepEqual(keptSamples(rec("testpmd", 1, [], { pps: null, error: "x" })), []);
});

Deno.test("summarizeRates: median over every kept sample of all rounds, spread of round medians", () => {
  // testpmd bimodal: round 1 at 0.5 Mpps, round 2 at 3.5 Mpps, round 3 at 0.5 again.
  const records = [
    rec("virtio", 1, [1, 1, 100, 110, 120]),
    rec("testpmd", 1, [9, 500, 500]),
    rec("kernel", 1, [], { pps: 40 }),
    rec("virtio", 2, [1, 1, 130, 140, 150]),
    rec("testpmd", 2, [9, 3500, 3500]),
    rec("kernel", 2, [], { pps: 60 }),
    rec("testpmd", 3, [9, 500, 510]),
    rec("kernel", 3, [], { pps: null, error: "no result" }),
  ];
  const s = summarizeRates(records);
  assert.deepEqual(s.map((x) => x.tool), ["virtio", "testpmd", "kernel"]);
  const [v, t, k] = s;
  // virtio kept: 100 110 120 130 140 150 → median (120+130)/2
  assert.equal(v!.pps, 125);
  assert.equal(v!.sampleCount, 6);
  assert.equal(v!.roundMin, 110);
  assert.equal(v!.roundMax, 140);
  assert.equal(v!.rounds, 2);
  // testpmd kept: 500 500 3500 3500 500 510 → sorted 500 500 500 510 3500 3500 → 505
  assert.equal(t!.pps, 505);
  assert.equal(t!.roundMin, 500);
  assert.equal(t!.roundMax, 3500);
  assert.equal(t!.rounds, 3);
  // kernel: one figure per round; the failed round counts as failed, not as a sample.
  assert.equal(k!.pps, 50);
  assert.equal(k!.rounds, 2);
  assert.equal(k!.failed, 1);
  assert.equal(k!.wirePps, undefined);
});

Deno.test("summarizeRates: separate cells; wire and source medians; NaN sources ignored", () => {
  const rx = (tool: RateRecord["tool"], round: number, sourcePps: number) =>
    rec(tool, round, [0, 0, 10, 10], { direction: "rx", sourcePps });
  const s = summarizeRates([
    rec("virtio", 1, [0, 0, 5], { wirePps: 4 }),
    rec("virtio", 2, [0, 0, 5], { wirePps: null }),
    rec("virtio", 3, [0, 0, 5], { wirePps: 8 }),
    rx("virtio", 1, 100),
    rx("virtio", 2, NaN),
    rx("virtio", 3, 300),
    rec("virtio", 1, [0, 0, 7], { size: 1518 }),
  ]);
  assert.equal(s.length, 3);
  assert.equal(s[0]!.wirePps, 6);
  assert.equal(s[1]!.direction, "rx");
  assert.equal(s[1]!.sourcePps, 200);
  assert.equal(s[2]!.size, 1518);
  assert.equal(s[2]!.pps, 7);
  // All wire counts missing: null, which says "counted, but nothing".
  assert.equal(summarizeRates([rec("virtio", 1, [0, 0, 1], { wirePps: null })])[0]!.wirePps, null);
});

function result(records: WireRateRecord[]): LabRatesResult {
  const summary = summarizeRates(records);
  return {
    secondsPerRun: 2,
    rounds: 2,
    warmupSeconds: 4,
    bootMs: 12_000,
    totalMs: 60_000,
    accel: "tcg",
    rates: records,
    summary,
    ratios: ratiosOf(summary),
    errors: [],
  };
}

Deno.test("ratiosOf and the table use the medians; the spread line shows each tool's rounds", () => {
  const M = 1e6;
  const r = result([
    rec("virtio", 1, [0, 0, 0.9 * M, 0.9 * M]),
    rec("testpmd", 1, [0, 0.5 * M, 0.5 * M]),
    rec("kernel", 1, [], { pps: 0.3 * M }),
    rec("virtio", 2, [0, 0, 1.1 * M, 1.1 * M]),
    rec("testpmd", 2, [0, 3.5 * M, 3.5 * M]),
    rec("kernel", 2, [], { pps: 0.5 * M }),
  ]);
  const vsTestpmd = r.ratios.find((q) => q.versus === "testpmd")!;
  assert.equal(vsTestpmd.ratio, 1.0 / 2.0); // medians 1.0 and 2.0 Mpps
  assert.equal(r.ratios.find((q) => q.versus === "kernel")!.ratio, 1.0 / 0.4);
  const text = labRatesText(r);
  const row = text.split("\n").find((l) => l.startsWith("tx  net-modern"))!;
  assert.match(row, /1\.000\s+2\.000\s+0\.400\s+-\s+0\.50\s+2\.50/);
  const spreadLine = text.split("\n")[text.split("\n").indexOf(row) + 1]!;
  assert.match(spreadLine, /rounds min–max\s+0\.90–1\.10\s+0\.50–3\.50\s+0\.30–0\.50/);
  assert.match(text, /of 2 interleaved rounds/);
  // The chart's bars are the medians too.
  const svg = ratesChartSvg(r.summary, "t");
  assert.match(svg, />1\.00</);
  assert.match(svg, />2\.00</);
  assert.doesNotMatch(svg, />3\.50</);
});

Deno.test("the table has no spread line with one round, and says which rounds failed", () => {
  const one = result([rec("virtio", 1, [0, 0, 5, 5]), rec("testpmd", 1, [0, 5, 5])]);
  assert.doesNotMatch(labRatesText(one), /rounds min–max/);
  const failing = result([
    rec("virtio", 1, [0, 0, 5, 5]),
    rec("testpmd", 1, [], { pps: null, error: "testpmd ended" }),
    rec("virtio", 2, [0, 0, 5, 5]),
    rec("testpmd", 2, [0, 5, 5]),
  ]);
  assert.match(labRatesText(failing), /rounds min–max.*\(testpmd 1 failed\)/);
});
