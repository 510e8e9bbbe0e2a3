import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import {
  FieldCursor,
  formatIPv4,
  formatIPv6,
  formatMac,
  formatRange,
  parseIPv4,
  parseIPv6,
  parseMac,
  parseRange,
} from "../../lib/pktgen/flows.ts";
import { bufferBytes, parseSizes, wireSize } from "../../lib/pktgen/sizes.ts";

Deno.test("address parsers and formatters round-trip", () => {
  assert.equal(parseMac("02:00:0a:ff:00:01"), 0x02000aff0001);
  assert.equal(formatMac(0x02000aff0001), "02:00:0a:ff:00:01");
  assert.equal(parseIPv4("10.0.0.1"), 0x0a000001);
  assert.equal(formatIPv4(0xc0a800c7), "192.168.0.199");
  assert.deepEqual(Array.from(parseIPv6("fd00::1")), [0xfd, 0, ...Array(13).fill(0), 1]);
  assert.equal(formatIPv6(parseIPv6("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
  assert.equal(formatIPv6(parseIPv6("::")), "::");
  assert.equal(formatIPv6(parseIPv6("1:2:3:4:5:6:7:8")), "1:2:3:4:5:6:7:8");
  for (const bad of ["1.2.3", "1.2.3.256", "a.b.c.d"]) {
    assert.throws(() => parseIPv4(bad), UsageError);
  }
  for (const bad of ["1::2::3", "1:2:3", "g::1", "1:2:3:4:5:6:7:8:9"]) {
    assert.throws(() => parseIPv6(bad), UsageError, bad);
  }
  assert.throws(() => parseMac("02:00:00:00:00"), UsageError);
});

Deno.test("range specs: fixed, stepped, random, ports", () => {
  const r = parseRange("ipv4", "10.0.0.1-10.0.0.100");
  assert.deepEqual([r.min, r.count, r.mode], [0x0a000001, 100, "inc"]);
  assert.equal(parseRange("ipv4", "10.0.0.1-10.0.0.100,random").mode, "random");
  assert.equal(parseRange("port", "1000-2000").count, 1001);
  assert.deepEqual(parseRange("port", "9"), { kind: "port", min: 9, count: 1, mode: "fixed" });
  const any = parseRange("port", "random");
  assert.deepEqual([any.min, any.min + any.count - 1, any.mode], [1024, 65535, "random"]);
  const mac = parseRange("mac", "02:00:00:00:00:01-02:00:00:00:01:00");
  assert.equal(mac.count, 256);
  const v6 = parseRange("ipv6", "fd00::1-fd00::ff,random");
  assert.deepEqual([v6.min, v6.count, v6.mode], [1, 255, "random"]);
  assert.equal(formatRange(v6), "fd00::1-fd00::ff,random");
  assert.equal(formatRange(r), "10.0.0.1-10.0.0.100,inc");
  for (
    const [kind, bad] of [
      ["ipv4", "10.0.0.9-10.0.0.1"],
      ["ipv4", "random"],
      ["port", "70000"],
      ["port", "1-2,sideways"],
      ["port", "5,inc"],
      ["ipv6", "fd00::1-fd01::1"],
    ] as const
  ) {
    assert.throws(() => parseRange(kind, bad), UsageError, bad);
  }
});

Deno.test("cursors: inc walks and wraps, random stays in range and covers it", () => {
  const inc = new FieldCursor(parseRange("port", "1000-1002"));
  assert.deepEqual(Array.from({ length: 7 }, () => inc.next()), [
    1000,
    1001,
    1002,
    1000,
    1001,
    1002,
    1000,
  ]);
  const fixed = new FieldCursor(parseRange("port", "80"));
  assert.equal(fixed.varies, false);
  assert.equal(fixed.next(), 80);
  const rnd = new FieldCursor(parseRange("port", "100-199,random"), 42);
  const hits = new Uint32Array(100);
  for (let i = 0; i < 100_000; i++) {
    const v = rnd.next();
    assert.ok(v >= 100 && v <= 199, `${v}`);
    hits[v - 100]!++;
  }
  // Uniform: every value near 1000 hits (a broken generator would be far off).
  for (const h of hits) assert.ok(h > 850 && h < 1150, `${h}`);
  const again = new FieldCursor(parseRange("port", "100-199,random"), 42);
  const first = new FieldCursor(parseRange("port", "100-199,random"), 42).next();
  assert.equal(again.next(), first, "seeded: reproducible");
});

Deno.test("sizes: wire vs buffer convention, fixed, range, IMIX proportions", () => {
  assert.equal(bufferBytes(64), 60);
  assert.equal(wireSize(60), 64);
  const fixed = parseSizes("64");
  assert.deepEqual([fixed.next(), fixed.next(), fixed.mean], [64, 64, 64]);
  const imix = parseSizes("imix");
  const counts = new Map<number, number>();
  for (let i = 0; i < 12_000; i++) {
    const s = imix.next();
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { 64: 7000, 570: 4000, 1518: 1000 });
  assert.ok(Math.abs(imix.mean - (7 * 64 + 4 * 570 + 1518) / 12) < 1e-9);
  // Spread out: no more than 2 equal sizes in a row in the 7:4:1 cycle.
  let run = 1, longest = 1;
  for (let i = 1; i < imix.table.length; i++) {
    run = imix.table[i] === imix.table[i - 1] ? run + 1 : 1;
    longest = Math.max(longest, run);
  }
  assert.ok(longest <= 2, `longest run ${longest}`);
  const custom = parseSizes("64:1,128:3");
  assert.deepEqual(Array.from(custom.table).sort(), [128, 128, 128, 64]);
  const range = parseSizes("64-67");
  assert.deepEqual([range.next(), range.next(), range.next(), range.next(), range.next()], [
    64,
    65,
    66,
    67,
    64,
  ]);
  const rnd = parseSizes("100-200,random");
  assert.ok(rnd.min >= 100 && rnd.max <= 200 && rnd.min < 110 && rnd.max > 190);
  assert.ok(Math.abs(rnd.mean - 150) < 3);
  for (const bad of ["63", "1519", "200-100", "64:0", "64:x", "abc", "64:1:2"]) {
    assert.throws(() => parseSizes(bad), UsageError, bad);
  }
  assert.equal(parseSizes("84", 84).min, 84);
  assert.throws(() => parseSizes("80", 84), UsageError, "IPv6 minimum passed in");
});
