import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { formatRateSpec, Pacer, parseRate } from "../../lib/pktgen/pacer.ts";

Deno.test("rate specs", () => {
  assert.deepEqual(parseRate("1M"), { unit: "pps", value: 1e6 });
  assert.deepEqual(parseRate("500kpps"), { unit: "pps", value: 5e5 });
  assert.deepEqual(parseRate("1Gbit"), { unit: "bps", value: 1e9 });
  assert.deepEqual(parseRate("100Mbps"), { unit: "bps", value: 1e8 });
  assert.deepEqual(parseRate("2.5 Gbit/s"), { unit: "bps", value: 2.5e9 });
  assert.deepEqual(parseRate("10MB/s"), { unit: "bps", value: 8e7 });
  assert.deepEqual(parseRate("1000"), { unit: "pps", value: 1000 });
  for (const bad of ["", "fast", "0", "1Mhz", "-5", "1 M M"]) {
    assert.throws(() => parseRate(bad), UsageError, bad);
  }
  assert.equal(formatRateSpec(parseRate("1.5M")), "1.5 Mpps");
  assert.equal(formatRateSpec(parseRate("100Mbps")), "100 Mbit/s");
});

/** Drives a pacer like the TX loop would, with a jittery fake clock; returns sent totals. */
function simulate(
  rateText: string,
  seconds: number,
  batch: number,
  bitsFor: (i: number) => number,
) {
  let now = 1e9;
  let x = 7;
  const pacer = new Pacer(parseRate(rateText), () => now);
  let packets = 0, bits = 0, maxBurst = 0;
  while (now < 1e9 + seconds * 1e9) {
    const expected = bitsFor(packets);
    const n = pacer.grant(batch, expected);
    let b = 0;
    for (let i = 0; i < n; i++) b += bitsFor(packets + i);
    pacer.spend(n, b);
    packets += n;
    bits += b;
    maxBurst = Math.max(maxBurst, n);
    // Loop iterations take 0.2–50 µs; when nothing was granted, wait as told (or a bit more).
    x = (x * 1103515245 + 12345) >>> 0;
    const work = 200 + (x % 50_000);
    now += n === 0 ? Math.max(pacer.waitNs(expected), 1) + (x % 3000) : work;
  }
  return { packets, bits, maxBurst };
}

Deno.test("pps pacing holds within 1% with a jittery clock", () => {
  for (const [rate, target] of [["1M", 1e6], ["50kpps", 5e4], ["1k", 1e3]] as const) {
    const r = simulate(rate, 2, 64, () => 512);
    const achieved = r.packets / 2;
    assert.ok(Math.abs(achieved / target - 1) < 0.01, `${rate}: ${achieved}`);
    assert.ok(r.maxBurst <= 64);
  }
});

Deno.test("bit/s pacing with IMIX-like sizes holds within 1%", () => {
  const sizes = [64, 570, 64, 1518, 64, 570, 64, 64, 570, 64, 64, 570];
  const r = simulate("100Mbps", 3, 32, (i) => sizes[i % sizes.length]! * 8);
  const achieved = r.bits / 3;
  assert.ok(Math.abs(achieved / 1e8 - 1) < 0.01, `${achieved}`);
});

Deno.test("a stall saves up at most the burst allowance", () => {
  let now = 0;
  const pacer = new Pacer(parseRate("1M"), () => now, 2e6);
  now = 1e9; // a second-long stall
  assert.equal(pacer.grant(1_000_000, 512), 2000, "2 ms of tokens at 1 Mpps");
  pacer.spend(2000, 0);
  assert.equal(pacer.grant(10, 512), 0);
  assert.equal(pacer.waitNs(512), 1000);
  now += 1000;
  assert.equal(pacer.waitNs(512), 0);
  assert.equal(pacer.grant(10, 512), 1);
});

Deno.test("no rate: everything is granted, nothing waits", () => {
  const pacer = new Pacer(undefined, () => 0);
  assert.equal(pacer.grant(256, 512), 256);
  pacer.spend(256, 256 * 512);
  assert.equal(pacer.waitNs(512), 0);
});
