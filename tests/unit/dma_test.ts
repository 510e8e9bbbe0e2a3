import assert from "node:assert/strict";
import { VirtioError } from "../../lib/errors.ts";
import { HugepageAllocator } from "../../lib/dma/hugepage.ts";
import { decodePagemapEntry, physicalAddress } from "../../lib/dma/pagemap.ts";
import {
  DEFAULT_IOVA_BASE,
  type IommuMapper,
  type IovaRange,
  placeIova,
  VfioDmaAllocator,
} from "../../lib/dma/vfio_dma.ts";
import { HUGEPAGE_SIZE, mapAnonymous, PAGE_SIZE } from "../../lib/sys/mmap.ts";

import { hostTest, NEEDS } from "./host_needs.ts";

Deno.test("decodePagemapEntry: present PFN, absent page, hidden PFN", () => {
  assert.equal(decodePagemapEntry((1n << 63n) | 0x1234n, 0n), 0x1234n);
  assert.equal(decodePagemapEntry((1n << 63n) | (1n << 61n) | 0x55n, 0n), 0x55n);
  assert.throws(() => decodePagemapEntry(0x1234n, 0x7000n), /not resident/);
  assert.throws(() => decodePagemapEntry(1n << 63n, 0n), /hides physical addresses/);
});

hostTest("pagemap: a locked anonymous page has a physical address, offset preserved", [
  NEEDS.root,
], () => {
  using memory = mapAnonymous(2 * PAGE_SIZE, { locked: true });
  const first = physicalAddress(memory.address);
  assert.ok(first > 0n);
  assert.equal(first % BigInt(PAGE_SIZE), 0n);
  assert.equal(physicalAddress(memory.address + 0x123n), first + 0x123n);
});

function hugepagesFree(): number {
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  return Number(/HugePages_Free:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
}

const noFreeHugepages = { what: "no free hugepages", ok: hugepagesFree() === 0, ci: false };

hostTest("HugepageAllocator without free hugepages: clear error with the nr_hugepages hint", [
  noFreeHugepages,
], () => {
  using allocator = new HugepageAllocator();
  assert.throws(() => allocator.alloc(64), (error: unknown) => {
    assert.ok(error instanceof VirtioError);
    assert.match(error.message, /no free 2 MiB hugepage/);
    assert.match(error.hint ?? "", /nr_hugepages/);
    return true;
  });
});

/**
 * Runs `name` as a step of `t` with at least `count` free hugepages, reserving them if needed
 * and putting the setting back afterwards. When they cannot be reserved the step is ignored
 * (visible as such), not passed.
 */
async function withHugepages(
  t: Deno.TestContext,
  count: number,
  name: string,
  fn: () => void,
): Promise<void> {
  const path = "/proc/sys/vm/nr_hugepages";
  const before = Deno.readTextFileSync(path).trim();
  try {
    if (hugepagesFree() < count) Deno.writeTextFileSync(path, String(Number(before) + count));
    const reserved = hugepagesFree() >= count;
    await t.step({
      name: reserved ? name : `${name} [needs ${count} hugepages]`,
      ignore: !reserved,
      fn,
    });
  } finally {
    if (Deno.readTextFileSync(path).trim() !== before) Deno.writeTextFileSync(path, before);
  }
}

hostTest("HugepageAllocator", [NEEDS.root], async (t) => {
  await withHugepages(
    t,
    2,
    "aligned, zeroed, contiguous within a page, new page when full",
    () => {
      using allocator = new HugepageAllocator();
      const a = allocator.alloc(100);
      a.bytes.fill(0xff);
      const b = allocator.alloc(4000, 4096);
      assert.equal(b.iova % 4096, 0);
      assert.equal(b.iova - a.iova, b.bytes.byteOffset - a.bytes.byteOffset);
      assert.equal(a.bytes.buffer, b.bytes.buffer, "same hugepage");
      assert.ok(b.bytes.every((x) => x === 0));
      assert.equal(a.iova % HUGEPAGE_SIZE, 0, "first block at the start of a hugepage");
      const big = allocator.alloc(HUGEPAGE_SIZE - 4096);
      assert.notEqual(big.bytes.buffer, a.bytes.buffer, "did not fit: a second hugepage");
      assert.equal(allocator.mappedBytes, 2 * HUGEPAGE_SIZE);
      assert.throws(() => allocator.alloc(HUGEPAGE_SIZE + 1), RangeError);
      assert.throws(() => allocator.alloc(16, 3), RangeError);
    },
  );
});

hostTest("HugepageAllocator with an injected translation", [NEEDS.root], async (t) => {
  await withHugepages(t, 1, "device addresses come from the translation", () => {
    using allocator = new HugepageAllocator(() => 0x4000_0000n);
    const region = allocator.alloc(64, 64);
    assert.equal(region.iova, 0x4000_0000);
    assert.equal(allocator.alloc(8, 64).iova, 0x4000_0040);
  });
});

Deno.test("placeIova: lowest aligned fit inside the allowed ranges", () => {
  const ranges: IovaRange[] = [
    { start: 0n, end: 0xfedf_ffffn },
    { start: 0xfef0_0000n, end: 0xff_ffff_ffffn },
  ];
  const MiB2 = 0x20_0000n;
  assert.equal(placeIova(ranges, DEFAULT_IOVA_BASE, MiB2, MiB2), 0x1_0000_0000n);
  assert.equal(placeIova(ranges, 0xfed0_0000n, MiB2, MiB2), 0xff00_0000n, "skips the MSI hole");
  assert.equal(placeIova(ranges, 0x100_0000_0000n, MiB2, MiB2), null, "past the last range");
  assert.equal(placeIova([], 0x1234n, 0x1000n, 0x1000n), 0x2000n, "no ranges: whole space");
});

class FakeMapper implements IommuMapper {
  maps: { vaddr: bigint; iova: bigint; size: number }[] = [];
  unmaps: { iova: bigint; size: number }[] = [];
  failNext = false;
  constructor(readonly iovaRanges: IovaRange[] = []) {}
  mapDma(vaddr: bigint, iova: bigint, size: number): void {
    if (this.failNext) throw new VirtioError("map refused");
    this.maps.push({ vaddr, iova, size });
  }
  unmapDma(iova: bigint, size: number): void {
    this.unmaps.push({ iova, size });
  }
}

Deno.test("VfioDmaAllocator: maps chunks at chosen IOVAs, bump-allocates, unmaps on dispose", () => {
  const mapper = new FakeMapper([{ start: 0n, end: 0xff_ffff_ffffn }]);
  {
    using allocator = new VfioDmaAllocator(mapper, { hugepages: "never" });
    const a = allocator.alloc(64);
    a.bytes.fill(0xaa);
    const b = allocator.alloc(256, 4096);
    assert.equal(a.iova, 0x1_0000_0000);
    assert.equal(b.iova, 0x1_0000_1000);
    assert.ok(b.bytes.every((x) => x === 0));
    assert.equal(mapper.maps.length, 1);
    assert.equal(mapper.maps[0]?.size, HUGEPAGE_SIZE);
    const large = allocator.alloc(3 * 1024 * 1024);
    assert.equal(large.bytes.byteLength, 3 * 1024 * 1024);
    assert.equal(mapper.maps.length, 2);
    assert.equal(mapper.maps[1]?.iova, 0x1_0020_0000n, "next chunk right after the first");
    assert.equal(mapper.maps[1]?.size, 4 * 1024 * 1024);
    assert.equal(large.iova, 0x1_0020_0000);
    assert.notEqual(mapper.maps[0]?.vaddr, mapper.maps[1]?.vaddr);
  }
  assert.deepEqual(mapper.unmaps, [
    { iova: 0x1_0000_0000n, size: HUGEPAGE_SIZE },
    { iova: 0x1_0020_0000n, size: 4 * 1024 * 1024 },
  ]);
});

Deno.test("VfioDmaAllocator: a refused map releases the memory and propagates the error", () => {
  const mapper = new FakeMapper();
  mapper.failNext = true;
  using allocator = new VfioDmaAllocator(mapper, { hugepages: "never" });
  assert.throws(() => allocator.alloc(64), /map refused/);
  mapper.failNext = false;
  assert.equal(allocator.alloc(64).iova, Number(DEFAULT_IOVA_BASE));
});

Deno.test("VfioDmaAllocator: no IOVA room gives a clear error", () => {
  const mapper = new FakeMapper([{ start: 0x1000n, end: 0x1fffn }]);
  using allocator = new VfioDmaAllocator(mapper, { hugepages: "never" });
  assert.throws(() => allocator.alloc(64), /no free IOVA range/);
  assert.equal(mapper.maps.length, 0);
});
