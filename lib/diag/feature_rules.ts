/**
 * Dependencies between feature bits (VIRTIO 1.2 §2.2.1: "the device MUST NOT offer a feature
 * which requires another feature which was not offered"; the driver MUST NOT accept one
 * either). The net rules are §5.1.3.1 "Feature bit requirements"; the CTRL_VQ rules for the
 * newer control commands follow the same section (and Linux's virtnet_validate_features).
 *
 * @module
 */
import { VIRTIO_F_VERSION_1 } from "../virtio/constants.ts";
import {
  hasFeature,
  nameFeatures,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_RX_EXTRA,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_GUEST_USO4,
  VIRTIO_NET_F_GUEST_USO6,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_HOST_USO,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_NOTF_COAL,
  VIRTIO_NET_F_RSC_EXT,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_VQ_NOTF_COAL,
} from "../virtio/features.ts";

/** `bit` needs at least one of `anyOf`. */
export interface FeatureRule {
  /** The dependent feature bit. */
  readonly bit: bigint;
  /** At least one of these must be present with it. */
  readonly anyOf: readonly bigint[];
}

const needs = (bit: bigint, ...anyOf: bigint[]): FeatureRule => ({ bit, anyOf });

/** Per device type (§5.x.3.1). Types without rules have none in the spec. */
export const FEATURE_RULES: ReadonlyMap<number, readonly FeatureRule[]> = new Map([
  [1, [
    needs(VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_CSUM),
    needs(VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_CSUM),
    needs(VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6),
    needs(VIRTIO_NET_F_GUEST_UFO, VIRTIO_NET_F_GUEST_CSUM),
    needs(VIRTIO_NET_F_GUEST_USO4, VIRTIO_NET_F_GUEST_CSUM),
    needs(VIRTIO_NET_F_GUEST_USO6, VIRTIO_NET_F_GUEST_CSUM),
    needs(VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_CSUM),
    needs(VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_CSUM),
    needs(VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6),
    needs(VIRTIO_NET_F_HOST_UFO, VIRTIO_NET_F_CSUM),
    needs(VIRTIO_NET_F_HOST_USO, VIRTIO_NET_F_CSUM),
    needs(VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_CTRL_VLAN, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_GUEST_ANNOUNCE, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_CTRL_RX_EXTRA, VIRTIO_NET_F_CTRL_RX),
    needs(VIRTIO_NET_F_NOTF_COAL, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_VQ_NOTF_COAL, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_RSS, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_HASH_REPORT, VIRTIO_NET_F_CTRL_VQ),
    needs(VIRTIO_NET_F_RSC_EXT, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6),
  ]],
]);

function label(type: number, bit: bigint): string {
  return nameFeatures(type, 1n << bit)[0]?.name ?? `bit ${bit}`;
}

/**
 * Every dependency `features` breaks for device `type`, one readable line each
 * ("GUEST_TSO4 without GUEST_CSUM"). Empty when consistent.
 */
export function featureViolations(type: number, features: bigint): string[] {
  const out: string[] = [];
  for (const rule of FEATURE_RULES.get(type) ?? []) {
    if (!hasFeature(features, rule.bit)) continue;
    if (rule.anyOf.some((b) => hasFeature(features, b))) continue;
    out.push(
      `${label(type, rule.bit)} without ${rule.anyOf.map((b) => label(type, b)).join(" or ")}`,
    );
  }
  return out;
}

/** True when VERSION_1 (bit 32, §6) is in `features`. */
export function hasVersion1(features: bigint): boolean {
  return hasFeature(features, VIRTIO_F_VERSION_1);
}
