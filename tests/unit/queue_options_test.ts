/** Each queue constructor checks its own options (§2.6, §2.7), not only createVirtqueue. */
import assert from "node:assert/strict";
import { PackedQueue } from "../../lib/queue/packed.ts";
import { SplitQueue } from "../../lib/queue/split.ts";
import type { VirtqueueOptions } from "../../lib/queue/types.ts";
import { FakeDma } from "../../testing/fake_dma.ts";

function options(size: number, more: Partial<VirtqueueOptions> = {}): VirtqueueOptions {
  return { dma: new FakeDma(), size, format: "split", notify: () => {}, ...more };
}

Deno.test("queue options: SplitQueue refuses a size that is not a power of two (§2.7)", () => {
  assert.throws(() => new SplitQueue(options(100)), /split queue size 100 is not a power of two/);
  assert.throws(() => new SplitQueue(options(0)), /queue size 0 outside 1 … 32768/);
  assert.throws(() => new SplitQueue(options(8, { maxIndirect: 0 })), /maxIndirect 0/);
  assert.equal(new SplitQueue(options(8)).size, 8);
});

Deno.test("queue options: PackedQueue checks as packed, whatever options.format says", () => {
  // §2.8: a packed ring's size need not be a power of two.
  assert.equal(new PackedQueue(options(100)).size, 100);
  assert.throws(() => new PackedQueue(options(40000)), /queue size 40000 outside/);
  assert.throws(
    () => new PackedQueue(options(8, { legacyLayout: true })),
    /packed virtqueues have no legacy layout/,
  );
});
