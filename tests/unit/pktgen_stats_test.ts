import assert from "node:assert/strict";
import { bucketLow, bucketOf, bucketWidth, LatencyHistogram } from "../../lib/pktgen/histogram.ts";
import { SEQUENCE_WINDOW, SequenceTracker } from "../../lib/pktgen/sequence.ts";
import {
  formatBps,
  formatLiveLine,
  formatNs,
  formatPps,
  RunStats,
} from "../../lib/pktgen/stats.ts";
import { RxStatus } from "../../lib/pktgen/validate.ts";

Deno.test("sequence tracker: in order, loss, duplicates, reordering", () => {
  const t = new SequenceTracker();
  for (const s of [0, 1, 2, 4, 3, 3, 7, 1, 8]) t.record(s);
  // unique 0,1,2,3,4,7,8 ; 5,6 missing ; 3 and 1 again duplicates ; 3 arrived after 4.
  assert.deepEqual([t.unique, t.lost, t.duplicates, t.reordered, t.late, t.highest], [
    7,
    2,
    2,
    1,
    0,
    8,
  ]);
  t.record(5);
  assert.deepEqual([t.unique, t.lost, t.reordered], [8, 1, 2]);
});

Deno.test("sequence tracker: u32 wrap, big jumps and late arrivals", () => {
  const t = new SequenceTracker();
  for (let s = 0xfffffffd; s < 0xfffffffd + 6; s++) t.record(s >>> 0);
  assert.deepEqual([t.unique, t.lost, t.duplicates, t.reordered], [6, 0, 0, 0]);
  assert.equal(t.highest, 0xfffffffd + 5, "extended past 2^32");
  t.record(2); // seq 2 after the wrap is the one already seen
  assert.equal(t.duplicates, 1);
  const jump = 3 + SEQUENCE_WINDOW * 2;
  t.record(jump);
  assert.equal(t.lost, jump - 3, "the numbers 3 .. jump-1 were skipped: lost");
  t.record(2); // far behind the window: late, not a duplicate and not unique
  assert.deepEqual([t.late, t.duplicates], [1, 1]);
  t.record(jump - 10); // inside the window again: reordered, fills a gap
  assert.equal(t.reordered, 1);
  // A slot reused after the window moved is not mistaken for a duplicate.
  const u = new SequenceTracker();
  u.record(0);
  u.record(SEQUENCE_WINDOW);
  u.record(SEQUENCE_WINDOW * 2);
  assert.deepEqual([u.unique, u.duplicates], [3, 0]);
});

Deno.test("histogram buckets tile the number line and bound the relative error", () => {
  let x = 99;
  for (let i = 0; i < 20_000; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const v = Math.floor((x / 2 ** 32) * 2 ** (i % 50));
    const b = bucketOf(v);
    assert.ok(bucketLow(b) <= v && v < bucketLow(b) + bucketWidth(b), `${v} in bucket ${b}`);
    assert.ok(bucketWidth(b) <= Math.max(1, v / 32), `${v}`);
  }
  assert.equal(bucketLow(bucketOf(31) + 1), 32);
});

Deno.test("percentiles of known distributions", () => {
  const h = new LatencyHistogram();
  for (let v = 1; v <= 10_000; v++) h.record(v * 1000); // 1 µs .. 10 ms uniform
  const s = h.summary();
  assert.equal(s.count, 10_000);
  assert.equal(s.minNs, 1000);
  assert.equal(s.maxNs, 10_000_000);
  assert.ok(Math.abs(s.avgNs - 5_000_500) < 1);
  assert.ok(Math.abs(s.p50Ns / 5_000_000 - 1) < 1 / 32, `${s.p50Ns}`);
  assert.ok(Math.abs(s.p99Ns / 9_900_000 - 1) < 1 / 32, `${s.p99Ns}`);
  const one = new LatencyHistogram();
  one.record(12345);
  assert.deepEqual([one.percentile(50), one.percentile(99)], [12345, 12345], "clamped to min/max");
  const e = new LatencyHistogram();
  assert.ok(Number.isNaN(e.percentile(50)));
  e.record(-5);
  assert.deepEqual([e.negative, e.min], [1, 0]);
  e.merge(h);
  assert.equal(e.count, 10_001);
});

Deno.test("run stats: intervals, rates, loss against the sender's count, errors", () => {
  const st = new RunStats(0);
  st.countTx(1000, 64_000);
  for (let s = 0; s < 1000; s++) {
    if (s % 100 === 0) continue; // 10 lost
    st.countRx(64, 0, s, s * 1000, s * 1000 + 20_000);
  }
  st.countRx(64, 0, 5, NaN, 0); // a duplicate, no latency
  st.countRxError(RxStatus.BAD_UDP_CHECKSUM);
  st.countRx(64, 5000, 1, NaN, 0); // flow id beyond MAX_FLOWS
  const a = st.snapshot(500_000_000);
  assert.equal(a.dt, 0.5);
  assert.deepEqual([a.tx.packets, a.tx.pps, a.tx.bps], [1000, 2000, 1_024_000]);
  assert.equal(a.rx.packets, 992);
  assert.equal(a.rx.errors, 2);
  assert.equal(a.latency?.minNs, 20_000);
  const b = st.snapshot(1_500_000_000);
  assert.deepEqual([b.t, b.tx.packets, b.rx.errors, b.latency], [1.5, 0, 0, null]);
  const sum = st.summary(2e9, 1000);
  assert.equal(sum.rx.unique, 990);
  assert.equal(sum.rx.lost, 10);
  assert.equal(sum.rx.lossRatio, 0.01);
  assert.equal(sum.rx.duplicates, 1);
  assert.deepEqual(sum.rx.errorsByKind, { bad_udp_checksum: 1, unknown_flow: 1 });
  assert.equal(sum.tx.pps, 500);
  assert.equal(sum.latency?.p99Ns, 20_000);
  assert.equal(st.summary(2e9).rx.lost, 9, "without the sender's count: gaps only (no tail)");
  assert.match(formatLiveLine(a), /tx +2\.00 kpps/);
});

Deno.test("formatting with SI units", () => {
  assert.equal(formatPps(1_234_567), "1.23 Mpps");
  assert.equal(formatBps(512e6), "512 Mbit/s");
  assert.equal(formatBps(0), "0 bit/s");
  assert.equal(formatPps(12.5), "12.5 pps");
  assert.equal(formatNs(850), "850 ns");
  assert.equal(formatNs(12_345), "12.3 µs");
  assert.equal(formatNs(4_560_000), "4.56 ms");
});
