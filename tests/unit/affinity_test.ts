/**
 * CPU masks and pinning the calling thread (real sched_{get,set}affinity on this machine: only
 * this test's own thread moves, and it is put back).
 */
import assert from "node:assert/strict";
import {
  cpusOf,
  formatCpuList,
  maskOf,
  MAX_CPU,
  pinThisThread,
  threadAffinity,
} from "../../lib/sys/affinity.ts";

Deno.test("affinity: masks and CPU lists round-trip", () => {
  assert.deepEqual(cpusOf(maskOf([0, 1, 2, 3, 6, 9, 10, MAX_CPU])), [
    0,
    1,
    2,
    3,
    6,
    9,
    10,
    MAX_CPU,
  ]);
  assert.equal(formatCpuList([0, 1, 2, 3, 6, 9, 10]), "0-3,6,9-10");
  assert.equal(formatCpuList([5]), "5");
  assert.equal(formatCpuList([]), "");
  assert.throws(() => maskOf([MAX_CPU + 1]), RangeError);
  assert.throws(() => maskOf([-1]), RangeError);
});

Deno.test("affinity: pinThisThread pins the calling thread and puts its mask back", () => {
  const before = threadAffinity();
  const allowed = cpusOf(before);
  assert.ok(allowed.length >= 1, "this thread may run somewhere");
  const cpu = allowed.at(-1)!;
  {
    using _pin = pinThisThread(cpu);
    assert.deepEqual(cpusOf(threadAffinity()), [cpu]);
  }
  assert.deepEqual(threadAffinity(), before);
});

Deno.test("affinity: a CPU the thread may not run on is refused and nothing changes", () => {
  const before = threadAffinity();
  const outside = Array.from({ length: MAX_CPU + 1 }, (_, i) => i).find((c) =>
    !cpusOf(before).includes(c)
  )!;
  assert.throws(() => pinThisThread(outside), /is not one this process may run on/);
  assert.deepEqual(threadAffinity(), before);
});
