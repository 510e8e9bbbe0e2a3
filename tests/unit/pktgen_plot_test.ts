import assert from "node:assert/strict";
import {
  barChartSvg,
  compactSI,
  escapeXml,
  lineChartSvg,
  niceTicks,
  runChartSvg,
} from "../../lib/pktgen/plot.ts";
import type { IntervalSnapshot } from "../../lib/pktgen/stats.ts";

/** A run of 20 one-second intervals ramping to 1 Mpps, with latency from t=5. */
export function sampleSnapshots(): IntervalSnapshot[] {
  return Array.from({ length: 20 }, (_, i) => {
    const pps = Math.min(1, (i + 1) / 4) * 1e6;
    const dir = { packets: pps, bytes: pps * 64, pps, bps: pps * 512 };
    return {
      t: i + 1,
      dt: 1,
      tx: dir,
      rx: { ...dir, pps: pps * 0.97, errors: 0 },
      latency: i < 5 ? null : {
        count: pps,
        minNs: 8_000,
        avgNs: 15_000,
        p50Ns: 14_000 + i * 100,
        p99Ns: 40_000 + (i % 3) * 5_000,
        maxNs: 90_000,
      },
      pausedNs: 0,
    };
  });
}

Deno.test("nice ticks and compact labels", () => {
  assert.deepEqual(niceTicks(0, 9.3), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0, 1_234_567), [0, 500_000, 1_000_000, 1_500_000]);
  assert.deepEqual(niceTicks(0, 1_234_567, 8), [
    0,
    200_000,
    400_000,
    600_000,
    800_000,
    1_000_000,
    1_200_000,
    1_400_000,
  ]);
  assert.deepEqual(niceTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(compactSI(1_500_000), "1.5M");
  assert.equal(compactSI(0.00002), "20µ");
  assert.equal(compactSI(0), "0");
  assert.equal(escapeXml(`a<b & "c"`), "a&#60;b &#38; &#34;c&#34;");
});

Deno.test("run chart: well-formed SVG with both panels, legend and gaps for missing latency", () => {
  const svg = runChartSvg("virtio pktgen <0000:00:03.0>", sampleSnapshots());
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>$/);
  assert.ok(svg.includes("virtio pktgen &#60;0000:00:03.0&#62;"), "title escaped");
  for (const label of ["packets/s", "latency (µs)", ">tx<", ">rx<", ">p50<", ">p99<", ">max<"]) {
    assert.ok(svg.includes(label), label);
  }
  const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(paths.length, 5);
  // Latency paths start at t=6 (the first 5 intervals have none): 15 points each.
  assert.equal(paths[2]!.split(/[ML]/).filter(Boolean).length, 15);
  assert.ok(!/NaN|undefined/.test(svg));
  const noLatency = runChartSvg("t", sampleSnapshots().map((s) => ({ ...s, latency: null })));
  assert.ok(!noLatency.includes("latency"));
});

Deno.test("line chart scales points into the plot area", () => {
  const svg = lineChartSvg({
    title: "t",
    xLabel: "x",
    width: 500,
    panelHeight: 100,
    panels: [{ yLabel: "y", series: [{ name: "a", points: [[0, 0], [10, 10]] }] }],
  });
  // left margin 80, plot width 500-80-24 = 396, top 64, height 100; y ticks 0,5,10,15 (headroom over 10).
  assert.ok(svg.includes(`d="M80.0,164.0L476.0,97.3"`), svg);
});

Deno.test("bar chart: one bar per tool and size, value labels, legend", () => {
  const svg = barChartSvg({
    title: "64-byte transmit",
    yLabel: "Mpps",
    categories: ["64 B tx", "1518 B tx"],
    series: [
      { name: "virtio pktgen", values: [1.2e6, 0.8e6] },
      { name: "testpmd", values: [1.0e6, NaN] },
      { name: "kernel pktgen", values: [0.6e6, 0.5e6] },
    ],
  });
  const rects = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height/g)];
  assert.equal(rects.filter((m) => m[1] !== "44").length, 5, "5 finite values → 5 bars");
  assert.equal(rects.filter((m) => m[1] === "44").length, 3, "3 legend swatches");
  for (const s of ["1.2M", "800k", "virtio pktgen", "testpmd", "kernel pktgen", "1518 B tx"]) {
    assert.ok(svg.includes(s), s);
  }
  assert.ok(!/NaN|undefined/.test(svg));
});
