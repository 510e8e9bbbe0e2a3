/**
 * Every conformance check, in the order `virtio conform` runs them: transport first, then
 * status and initialisation, virtqueues, then the device types.
 *
 * @module
 */
import type { Check } from "./check.ts";
import { PCI_CHECKS } from "./checks/pci.ts";
import { STATUS_CHECKS } from "./checks/status.ts";
import { VIRTQUEUE_CHECKS } from "./checks/virtqueue.ts";

/** All checks. */
export const CONFORM_CHECKS: readonly Check[] = [
  ...PCI_CHECKS,
  ...STATUS_CHECKS,
  ...VIRTQUEUE_CHECKS,
];
