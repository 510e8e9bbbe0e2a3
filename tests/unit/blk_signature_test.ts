/** On-disk signatures that make blkgen refuse to write without --force. */
import assert from "node:assert/strict";
import { diskSignature, SIGNATURE_PROBE_BYTES } from "../../lib/blk/signature.ts";

function disk(at: number, bytes: number[] | string): Uint8Array {
  const d = new Uint8Array(SIGNATURE_PROBE_BYTES);
  d.set(typeof bytes === "string" ? [...bytes].map((c) => c.charCodeAt(0)) : bytes, at);
  return d;
}

Deno.test("blk signature: a blank disk shows none", () => {
  assert.equal(diskSignature(new Uint8Array(SIGNATURE_PROBE_BYTES)), undefined);
  assert.equal(diskSignature(new Uint8Array(100)), undefined);
});

Deno.test("blk signature: the common ones are recognised", () => {
  assert.match(diskSignature(disk(0x438, [0x53, 0xef]))!, /ext/);
  assert.match(diskSignature(disk(0, "XFSB"))!, /XFS/);
  assert.match(diskSignature(disk(0x10040, "_BHRfS_M"))!, /btrfs/);
  assert.match(diskSignature(disk(4086, "SWAPSPACE2"))!, /swap/);
  assert.match(diskSignature(disk(512, "LABELONE"))!, /LVM/);
  assert.match(diskSignature(disk(4096, [0xfc, 0x4e, 0x2b, 0xa9]))!, /RAID/);
  assert.match(diskSignature(disk(512, "EFI PART"))!, /GPT/);
  assert.match(diskSignature(disk(510, [0x55, 0xaa]))!, /MBR/);
});
