/**
 * Every conformance check, in the order `virtio conform` runs them: transport first, then
 * status and initialisation, virtqueues, then the device types.
 *
 * @module
 */
import type { Check } from "./check.ts";
import { PCI_CHECKS } from "./checks/pci.ts";
import { PCI_REGISTER_CHECKS } from "./checks/pci_registers.ts";
import { STATUS_CHECKS } from "./checks/status.ts";
import { LIFECYCLE_CHECKS } from "./checks/lifecycle.ts";
import { VIRTQUEUE_CHECKS } from "./checks/virtqueue.ts";
import { RING_RESET_CHECKS } from "./checks/ring_reset.ts";
import { NET_CHECKS } from "./checks/net.ts";
import { BLK_CHECKS } from "./checks/blk.ts";
import { CONSOLE_CHECKS, RNG_CHECKS } from "./checks/rng_console.ts";

/** All checks. */
export const CONFORM_CHECKS: readonly Check[] = [
  ...PCI_CHECKS,
  ...PCI_REGISTER_CHECKS,
  ...STATUS_CHECKS,
  ...LIFECYCLE_CHECKS,
  ...VIRTQUEUE_CHECKS,
  ...RING_RESET_CHECKS,
  ...NET_CHECKS,
  ...BLK_CHECKS,
  ...RNG_CHECKS,
  ...CONSOLE_CHECKS,
];
