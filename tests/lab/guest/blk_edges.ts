/**
 * Guest: requests blkgen cannot make, through the library — a read just past the end of the
 * disk (the device must answer IOERR, §5.2.6: "VIRTIO_BLK_S_IOERR for device or driver
 * error"), the last block (must be OK), WRITE_ZEROES (the range then reads as zeros, its
 * neighbours keep their data) and DISCARD. Prints one JSON line. Writes only the zeroed range.
 */
import { VirtioPciDevice } from "../../../lib/driver/virtio_pci_device.ts";
import { VirtioBlk } from "../../../lib/blk/virtio_blk.ts";
import { rangesOnce, readOnce } from "../../../lib/blk/read_blocks.ts";
import { VIRTIO_ID_BLOCK } from "../../../lib/virtio/device_types.ts";

const address = Deno.args[0]!;
using dev = VirtioPciDevice.open(address, { deviceType: VIRTIO_ID_BLOCK });
const blk = VirtioBlk.open(dev.transport, dev.dma);
const q = blk.queues[0]!;
const sectors = Number(blk.limits.capacitySectors);
const past = readOnce(q, dev.dma, sectors, 4096);
const straddle = readOnce(q, dev.dma, sectors - 4, 4096);
const last = readOnce(q, dev.dma, sectors - 8, 4096);
// §5.2.6 WRITE_ZEROES over sectors 1024..1031 (the caller wrote a pattern there), then a read
// must see zeros; the sectors around it keep their data. DISCARD of the next 64 must be OK.
const l = blk.limits;
const zeroes = l.writeZeroesLimits
  ? rangesOnce(q, dev.dma, l, "write-zeroes", [{ sector: 1024, sectors: 8 }]).status
  : "not offered";
const zeroed = readOnce(q, dev.dma, 1024, 4096);
const around = readOnce(q, dev.dma, 1016, 512);
const discard = l.discardLimits
  ? rangesOnce(q, dev.dma, l, "discard", [{ sector: 2048, sectors: 64 }]).status
  : "not offered";
console.log(JSON.stringify({
  capacitySectors: sectors,
  past: past.status,
  straddle: straddle.status,
  last: last.status,
  writeZeroes: zeroes,
  zeroed: zeroed.status === "ok" && zeroed.bytes.every((b) => b === 0),
  neighbourKept: around.status === "ok" && around.bytes.some((b) => b !== 0),
  discard,
  discardLimits: l.discardLimits ?? null,
  writeZeroesLimits: l.writeZeroesLimits ?? null,
}));
