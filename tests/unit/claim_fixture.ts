/** A claim record as a run of ours leaves it on disk, for fake roots in the CLI tests. */
import { writeClaimRecord } from "../../lib/device/claim.ts";

/** Records that process `pid` holds `address`, bound to `driver`, taken from virtio-pci. */
export function writeClaim(root: string, address: string, pid: number, driver: string | null) {
  writeClaimRecord({
    version: 1,
    address,
    originalDriver: "virtio-pci",
    driver,
    pid,
    startTime: null,
    originalCommand: null,
    createdAt: "2026-01-01T00:00:00.000Z",
  }, { root });
}
