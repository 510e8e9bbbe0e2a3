/**
 * Guest: requests blkgen cannot make, through the library — a read just past the end of the
 * disk (the device must answer IOERR, §5.2.6: "VIRTIO_BLK_S_IOERR for device or driver
 * error"), the last block (must be OK) and GET_ID. Prints one JSON line. Reads only.
 */
import { VirtioPciDevice } from "../../../lib/driver/virtio_pci_device.ts";
import { VirtioBlk } from "../../../lib/blk/virtio_blk.ts";
import { readOnce } from "../../../lib/blk/read_blocks.ts";
import { VIRTIO_ID_BLOCK } from "../../../lib/virtio/device_types.ts";

const address = Deno.args[0]!;
using dev = VirtioPciDevice.open(address, { deviceType: VIRTIO_ID_BLOCK });
const blk = VirtioBlk.open(dev.transport, dev.dma);
const q = blk.queues[0]!;
const sectors = Number(blk.limits.capacitySectors);
const past = readOnce(q, dev.dma, sectors, 4096);
const straddle = readOnce(q, dev.dma, sectors - 4, 4096);
const last = readOnce(q, dev.dma, sectors - 8, 4096);
console.log(JSON.stringify({
  capacitySectors: sectors,
  past: past.status,
  straddle: straddle.status,
  last: last.status,
}));
