import assert from "node:assert/strict";
import { setupPollQueue } from "../../lib/queue/setup.ts";
import type { Transport } from "../../lib/virtio/transport.ts";
import { FakeDma } from "../../testing/fake_dma.ts";

/** The part of a transport setupPollQueue uses, recording what it was told. */
function transport(kind: "modern" | "legacy", max: number) {
  const setups: { index: number; size: number }[] = [];
  const t = {
    kind,
    queueMaxSize: () => max,
    notifier: () => () => {},
    setupQueue: (index: number, size: number) => void setups.push({ index, size }),
  } as unknown as Transport;
  return { t, setups };
}

Deno.test("setupPollQueue: size capped at the device's maximum, queue programmed, no interrupts", () => {
  const { t, setups } = transport("modern", 128);
  const q = setupPollQueue(t, new FakeDma(), 3, { format: "split", eventIdx: false });
  assert.equal(q.size, 128);
  assert.deepEqual(setups, [{ index: 3, size: 128 }]);
  // disableInterrupts without EVENT_IDX: avail.flags = NO_INTERRUPT (§2.7.7).
  const availAt = q.region.bytes.byteOffset + (q.addresses.driver - q.region.iova);
  assert.equal(new Uint16Array(q.region.bytes.buffer, availAt, 1)[0], 1);
  const small = setupPollQueue(t, new FakeDma(), 0, { format: "packed", eventIdx: true, size: 6 });
  assert.equal(small.size, 6, "packed sizes need not be powers of two");
});

Deno.test("setupPollQueue: the device's and the caller's mistakes, each named", () => {
  const dma = new FakeDma();
  const split = { format: "split", eventIdx: false } as const;
  assert.throws(
    () => setupPollQueue(transport("modern", 0).t, dma, 2, split),
    /queue 2 is not available/,
  );
  assert.throws(
    () => setupPollQueue(transport("modern", 100).t, dma, 0, split),
    /maximum size 100 is not a power of two, which split rings require \(§2\.7\)/,
  );
  assert.throws(
    () => setupPollQueue(transport("modern", 256).t, dma, 0, { ...split, size: 96 }),
    /queue size 96 is not a power of two/,
  );
  assert.throws(
    () => setupPollQueue(transport("modern", 64).t, dma, 0, { ...split, size: 128 }),
    /above the device's maximum 64/,
  );
  assert.throws(
    () => setupPollQueue(transport("legacy", 256).t, dma, 0, { ...split, size: 128 }),
    /legacy device: queue size is fixed at 256/,
  );
  assert.equal(setupPollQueue(transport("legacy", 256).t, dma, 0, split).size, 256);
});
