/**
 * Feature negotiation as data, and the device initialisation sequence of VIRTIO 1.2 §3.1.1,
 * written once for every transport.
 *
 * @module
 */
import { DeviceError, VirtioError } from "../errors.ts";
import {
  STATUS_ACKNOWLEDGE,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  statusNames,
  VIRTIO_F_VERSION_1,
} from "./constants.ts";
import { featureBits, nameFeatures } from "./features.ts";
import type { Transport } from "./transport.ts";

/** What the caller asks of negotiation. Bits are feature numbers as a bitmask. */
export interface FeatureRequest {
  /** Without these the caller cannot work: negotiation fails if one is not offered. */
  readonly required?: bigint;
  /** Accepted when offered. */
  readonly wanted?: bigint;
  /** Never accepted, even if required/wanted elsewhere (e.g. `--no-packed`). */
  readonly refused?: bigint;
}

/** Why an offered bit was not accepted, or a required one is missing. */
export interface FeatureNote {
  /** Feature bit number. */
  readonly bit: number;
  /** Feature name, or `bit <n>` when unknown. */
  readonly name: string;
  /** Why the bit is noted. */
  readonly reason: "not offered" | "refused by caller" | "not used by this driver";
}

/** The feature negotiation outcome (§3.1.1 steps 4–5): what was offered and what is accepted. */
export interface FeatureDecision {
  /** Feature bits the device offered. */
  readonly offered: bigint;
  /** Feature bits the driver will write (the subset it accepts). */
  readonly accepted: bigint;
  /** Required bits the device does not offer; negotiation fails when non-empty. */
  readonly missing: readonly FeatureNote[];
  /** Offered bits left out, with the reason. */
  readonly declined: readonly FeatureNote[];
}

function label(type: number, bit: number): string {
  return nameFeatures(type, 1n << BigInt(bit))[0]?.name ?? `bit ${bit}`;
}

/** Pure: which offered features to accept for `request`, and why the rest were not. */
export function decideFeatures(
  deviceType: number,
  offered: bigint,
  request: FeatureRequest,
): FeatureDecision {
  const required = request.required ?? 0n;
  const wanted = request.wanted ?? 0n;
  const refused = request.refused ?? 0n;
  const accepted = offered & (required | wanted) & ~refused;
  const note = (bit: number, reason: FeatureNote["reason"]): FeatureNote => ({
    bit,
    name: label(deviceType, bit),
    reason,
  });
  const missing = [
    ...featureBits(required & ~offered).map((b) => note(b, "not offered")),
    ...featureBits(required & refused & offered).map((b) => note(b, "refused by caller")),
  ];
  const declined = featureBits(offered & ~accepted).map((b) =>
    note(b, ((refused >> BigInt(b)) & 1n) ? "refused by caller" : "not used by this driver")
  );
  return { offered, accepted, missing, declined };
}

/** Status byte with its bit names, for error messages. */
function describeStatus(s: number): string {
  const set = statusNames(s);
  return `0x${s.toString(16)}${set.length ? ` (${set.join("|")})` : ""}`;
}

/**
 * Brings a device from reset to DRIVER_OK (§3.1.1). `setup` runs between FEATURES_OK and
 * DRIVER_OK with the accepted features: it creates the virtqueues and reads config. On any
 * failure the device is marked FAILED (step 8's "driver MUST set FAILED") and the error
 * rethrown.
 */
export function initializeDevice<T>(
  t: Transport,
  request: FeatureRequest,
  setup: (decision: FeatureDecision) => T,
  resetTimeoutMs = 1000,
): { decision: FeatureDecision; value: T } {
  // 1. Reset the device (and wait for it: §4.1.4.3.2).
  t.reset(resetTimeoutMs);
  try {
    // 2-3. We noticed the device, and we know how to drive it.
    t.setStatus(STATUS_ACKNOWLEDGE);
    t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    // 4. Read the offered features and write the subset we understand.
    const offered = t.deviceFeatures();
    let req = request;
    if (t.kind === "modern") {
      // §6.1: a modern (1.x) driver MUST accept VERSION_1; a device that does not offer it
      // over the modern interface is not a 1.x device at all.
      req = { ...request, required: (request.required ?? 0n) | (1n << VIRTIO_F_VERSION_1) };
    }
    const decision = decideFeatures(t.deviceType, offered, req);
    if (decision.missing.length) {
      throw new VirtioError(
        `device does not offer required features: ${
          decision.missing.map((m) => `${m.name} (${m.reason})`).join(", ")
        }`,
      );
    }
    t.setDriverFeatures(decision.accepted);
    if (t.kind === "modern") {
      // 5-6. FEATURES_OK, then re-read: a device that cannot work with this subset clears
      // it (§3.1.1 step 6). Legacy devices have no FEATURES_OK (§3.1.2).
      t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
      const status = t.getStatus();
      if (!(status & STATUS_FEATURES_OK)) {
        throw new DeviceError(
          `device refused the feature set 0x${decision.accepted.toString(16)}: ` +
            `FEATURES_OK not set after writing it (status ${describeStatus(status)})`,
        );
      }
    }
    // 7. Device-specific setup: virtqueues, config.
    const value = setup(decision);
    // 8. DRIVER_OK: the device is live.
    const base = STATUS_ACKNOWLEDGE | STATUS_DRIVER |
      (t.kind === "modern" ? STATUS_FEATURES_OK : 0);
    t.setStatus(base | STATUS_DRIVER_OK);
    checkDeviceStatus(t);
    return { decision, value };
  } catch (e) {
    try {
      t.setStatus(t.getStatus() | STATUS_FAILED);
    } catch { /* the device may be gone */ }
    throw e;
  }
}

/**
 * Throws when the device signals DEVICE_NEEDS_RESET (§2.1.1) or shows FAILED: the caller must
 * stop using the queues. Cheap (one register read): call it when traffic stalls.
 */
export function checkDeviceStatus(t: Transport): void {
  const status = t.getStatus();
  if (status === 0xff) {
    throw new DeviceError("device status reads 0xff: the device is gone (hot-unplugged?)");
  }
  if (status === 0) {
    // Only the driver resets a device (§2.1.2: the device sets DEVICE_NEEDS_RESET instead),
    // so 0 after initialisation began means a reset behind our back or a vanished device
    // (QEMU's unassigned memory reads 0).
    throw new DeviceError("device status reads 0: the device was reset behind our back or is gone");
  }
  if (status & STATUS_DEVICE_NEEDS_RESET) {
    throw new DeviceError(`device needs a reset (status ${describeStatus(status)}, §2.1.1)`);
  }
  if (status & STATUS_FAILED) {
    throw new DeviceError(`device is in FAILED state (status ${describeStatus(status)})`);
  }
}
