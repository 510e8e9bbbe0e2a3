/**
 * The per-frame device-work figures of the rates bench: QEMU's thread times from procfs
 * lines, trace lines counted per device and queue, and the table's per-frame division.
 */
import assert from "node:assert/strict";
import { countTrace, parseSchedstatWait, parseThreadStat } from "../../bench/qemu_work.ts";
import { perFrameOf, perFrameText } from "../../bench/per_frame.ts";
import type { RateRecord } from "../../bench/guest/parse.ts";

Deno.test("a thread's name (with spaces and parentheses) and utime + stime", () => {
  const line = "4242 (CPU 0/TCG (x)) R 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 99";
  const st = parseThreadStat(line);
  assert.equal(st.comm, "CPU 0/TCG (x)");
  assert.equal(st.seconds, 2); // 200 ticks at USER_HZ 100
});

Deno.test("schedstat: the second field (ns runnable but waiting) in seconds; junk reads 0", () => {
  assert.equal(parseSchedstatWait("52924151436 13219595071 757841\n"), 13.219595071);
  assert.equal(parseSchedstatWait("garbage"), 0);
});

Deno.test("trace lines counted per vdev and queue; interrupts per vdev", () => {
  const text = [
    "virtio_queue_notify vdev 0x55aa n 1 vq 0x77",
    "virtio_queue_notify vdev 0x55aa n 1 vq 0x77",
    "virtio_queue_notify vdev 0x55bb n 0 vq 0x88",
    "virtio_notify vdev 0x55bb vq 0x88",
    "something else",
  ].join("\n");
  const t = countTrace(text);
  assert.deepEqual(t["0x55aa"], { notify: { "1": 2 }, interrupts: 0 });
  assert.deepEqual(t["0x55bb"], { notify: { "0": 1 }, interrupts: 1 });
});

Deno.test("per frame: CPU over the window's frames, the receiver's doorbells, not the source's", () => {
  const rec = (tool: "virtio" | "testpmd", samples: number[]): RateRecord => ({
    kind: "rate",
    direction: "rx",
    tool,
    nic: "net-modern",
    address: "0000:00:04.0",
    size: 64,
    pps: samples[1]!,
    samples,
    warmup: 1,
    round: 1,
    ...(tool === "virtio" ? { doorbells: { publishes: 10, notifications: 2, frames: 1000 } } : {}),
  });
  const windows = [{
    key: "rx|virtio|net-modern|64|1",
    wallS: 2,
    cpu: { main: 0.5, vcpu: 1, other: 0, mainWait: 0.5 },
    trace: {
      "0xsrc": { notify: { "1": 500 }, interrupts: 0 }, // the source's transmit kicks
      "0xrx": { notify: { "0": 10 }, interrupts: 1 },
    },
  }];
  const rows = perFrameOf([rec("virtio", [1, 250_000]), rec("testpmd", [1, 2])], windows);
  assert.equal(rows.length, 1, "a record without a window has no row");
  const r = rows[0]!;
  assert.equal(r.frames, 500_000);
  assert.equal(r.mainUs, 1); // 0.5 s / 500k frames
  assert.equal(r.vcpuUs, 2);
  assert.equal(r.mainWaitShare, 0.25); // 0.5 s of 2 s
  assert.equal(r.notifyPerK, 0.02);
  assert.equal(r.irqPerK, 0.002);
  assert.equal(r.ownPublishPerK, 10);
  assert.equal(r.ownNotifyPerK, 2);
  assert.match(perFrameText(rows), /rx +net-modern +64 virtio +0\.250 +1\.000 +2\.000 +25%/);
});
