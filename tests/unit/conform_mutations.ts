/**
 * The mutation of every conformance check: the simulated device options under which the
 * check must pass (`base`) and the one broken rule (`mutant`, merged over base) under which
 * it must fail. tests/unit/conform_checks_test.ts runs them and fails for a check without one.
 */
import {
  type ConformFault,
  type ConformSimOptions,
  simConfig,
  simFeatures,
} from "../../testing/conform_device.ts";

/** How one check is shown to work. */
export interface Mutation {
  readonly base?: ConformSimOptions;
  readonly mutant: ConformSimOptions;
}

const bit = (b: number) => 1n << BigInt(b);
const fault = (f: ConformFault, base?: ConformSimOptions): Mutation => ({
  ...(base ? { base } : {}),
  mutant: { faults: [f] },
});
const NET = simFeatures(1);
const BLK: ConformSimOptions = { deviceType: 2 };
const blkFault = (f: ConformFault, base: ConformSimOptions = BLK) => fault(f, base);
const blkCfg = (edit: (v: DataView) => void): Mutation => ({
  base: BLK,
  mutant: { config: simConfig(2, edit) },
});
const netCfg = (features: bigint, edit: (v: DataView) => void): Mutation => ({
  base: { features },
  mutant: { config: simConfig(1, edit) },
});
const transitional = { device: 0x1000, subsystemDevice: 1, revision: 0 };

const VQ: Record<string, ConformFault> = {
  "used-id": "used-id-bad",
  "used-len": "used-len-overflow",
  "no-double-use": "used-twice",
  "all-used": "drop-buffers",
  "readable-untouched": "write-readable",
  "in-order": "out-of-order",
  "notify-enabled": "no-interrupt",
  "notify-suppressed": "ignore-suppression",
  "event-idx-notify": "no-interrupt",
  "event-idx-suppressed": "ignore-suppression",
  "indirect": "no-indirect",
  "max-chain": "chain-limit",
};

export const MUTATIONS: Record<string, Mutation> = {
  "pci.id.vendor": { mutant: { ids: { vendor: 0x1234 } } },
  "pci.id.device": { mutant: { ids: { device: 0x1100 } } },
  "pci.id.transitional-revision": {
    base: { ids: transitional },
    mutant: { ids: { ...transitional, revision: 1 } },
  },
  "pci.id.transitional-subsystem": {
    base: { ids: transitional },
    mutant: { ids: { ...transitional, subsystemDevice: 0x1041 } },
  },
  "pci.id.modern-revision": { mutant: { ids: { revision: 0 } } },
  "pci.cap.common": fault("no-common-cap"),
  "pci.cap.notify": fault("no-notify-cap"),
  "pci.cap.isr": fault("no-isr-cap"),
  "pci.cap.device": fault("no-device-cap"),
  "pci.cap.pci-cfg": fault("no-pci-cfg-cap"),
  "pci.cap.length": fault("short-cap-len"),
  "pci.cap.device-length": fault("device-cap-short"),
  "pci.cap.in-bar": fault("cap-outside-bar"),
  "pci.cap.bar-implemented": fault("cap-bar-unimplemented"),
  "pci.common.length": fault("common-short"),
  "pci.notify.multiplier": fault("notify-mult-odd"),
  "pci.notify.covers-queues": fault("notify-too-short"),
  "pci.cfg-window.read": fault("window-broken"),
  "pci.cfg-window.write": fault("window-broken"),
  "pci.common.device-feature-stable": fault("feature-unstable"),
  "pci.common.driver-feature-readback": fault("driver-feature-no-readback"),
  "pci.common.num-queues": { mutant: { queueSizes: [256] } },
  "pci.common.queue-size-unavailable": fault("queue-size-unavailable-nonzero"),
  "pci.common.queue-size-pow2": { mutant: { queueSizes: [256, 255, 64] } },
  "pci.common.queue-size-writable": fault("queue-size-no-readback"),
  "pci.common.queue-size-reset": fault("queue-size-sticky"),
  "pci.common.queue-size-packed-any": fault("queue-size-no-readback"),
  "pci.common.queue-enable-reset": fault("queue-enable-no-reset"),
  "pci.common.queue-enable-readback": fault("queue-enable-no-readback"),
  "pci.msix.config-unmapped-on-reset": fault("msix-config-not-unmapped"),
  "pci.msix.queue-unmapped-on-reset": fault("msix-queue-not-unmapped"),
  "pci.msix.config-map": fault("msix-config-no-readback"),
  "pci.msix.queue-map": fault("msix-queue-no-readback"),
  "pci.msix.unmap": fault("msix-unmap-ignored"),
  "pci.msix.failure-reads-no-vector": fault("msix-out-of-range-accepted"),
  "pci.common.feature-select-readback": fault("select-no-readback"),
  "pci.common.queue-select-readback": fault("queue-select-no-readback"),
  "pci.common.queue-address-readback": fault("queue-address-no-readback"),
  "pci.msix.per-queue": fault("msix-vector-shared"),
  "pci.ring-reset.running-reads-0": fault("queue-reset-stuck"),
  "pci.ring-reset.completes": fault("queue-reset-keeps-enable"),
  "pci.ring-reset.reuse": fault("queue-reset-dead"),
  "status.reset-reads-0": fault("reset-never-completes"),
  "status.bits-read-back": fault("status-no-readback"),
  "status.version-1-offered": { mutant: { features: NET & ~bit(32) } },
  "status.offered-dependencies": { mutant: { features: NET & ~bit(17) } },
  "status.features-ok-valid": fault("features-ok-valid-rejected"),
  "status.features-ok-all-offered": fault("features-ok-valid-rejected"),
  "status.features-ok-unoffered": fault("features-ok-unoffered-accepted"),
  "status.features-ok-dependency": fault("features-ok-dependency-accepted"),
  "status.driver-ok-clean": fault("needs-reset-spurious"),
  "status.no-needs-reset": fault("needs-reset-spurious"),
  "status.reinit-after-reset": fault("reinit-refused"),
  "status.config-generation-stable": fault("generation-unstable"),
  "status.no-use-before-driver-ok": fault("serve-before-driver-ok"),
  "status.reset-after-failed": fault("failed-sticky"),
  "pci.isr.read-clears": fault("isr-sticky"),
  "status.no-spurious-config-interrupt": fault("config-interrupt-at-driver-ok"),
  "status.needs-reset-on-error": fault("error-no-needs-reset"),
  "status.needs-reset-recovers": fault("needs-reset-sticky"),
  "status.reset-mid-operation": fault("reset-inflight-hangs"),
  "status.reset-forgets-rings": fault("reset-drains-old-ring"),
  "status.reset-clears-isr": fault("reset-keeps-isr"),
  ...Object.fromEntries(
    ["split", "packed"].flatMap((f) =>
      Object.entries(VQ)
        .filter(([id]) => !(f === "packed" && id === "in-order"))
        .map(([id, x]) => [`vq.${f}.${id}`, fault(x)])
    ),
  ),
  "net.mac.stable": fault("config-drift"),
  "net.mtu.range": netCfg(NET, (v) => v.setUint16(10, 40, true)),
  "net.mtu.ipv6-minimum": netCfg(NET, (v) => v.setUint16(10, 576, true)),
  "net.mq.pairs-range": netCfg(NET | bit(22), (v) => v.setUint16(8, 0, true)),
  "net.speed.range": netCfg(NET | bit(63), (v) => v.setUint32(12, 0x80000000, true)),
  "net.duplex.values": netCfg(NET | bit(63), (v) => v.setUint8(16, 5)),
  "net.rss.key-size": netCfg(NET | bit(60), (v) => v.setUint8(17, 20)),
  "net.rss.table-length": netCfg(NET | bit(60), (v) => v.setUint16(18, 64, true)),
  "net.config.read-only": fault("config-writable"),
  "net.ctrl.rx-promisc": fault("ctrl-nack"),
  "net.ctrl.mq-pairs-set": fault("ctrl-nack", { features: NET | bit(22) }),
  ...Object.fromEntries(
    [
      "rx-allmulti",
      "rx-alluni",
      "rx-nomulti",
      "rx-nouni",
      "rx-nobcast",
      "mac-table-set",
      "mac-addr-set",
      "vlan-add",
      "vlan-del",
    ].map((c) => [`net.ctrl.${c}`, fault("ctrl-nack")]),
  ),
  "blk.blk-size.pow2": blkCfg((v) => v.setUint32(20, 1000, true)),
  "blk.seg-max.nonzero": blkCfg((v) => v.setUint32(12, 0, true)),
  "blk.discard.limits": blkCfg((v) => v.setUint32(36, 0, true)),
  "blk.write-zeroes.limits": blkCfg((v) => v.setUint32(52, 0, true)),
  "blk.read": blkFault("blk-bad-status"),
  "blk.status.defined": blkFault("blk-bad-status"),
  "blk.write-read": blkFault("blk-write-lost"),
  "blk.flush": blkFault("blk-bad-status"),
  "blk.out-of-range": blkFault("blk-oob-ok"),
  "blk.ro.write-rejected": blkFault("blk-ro-writable", {
    deviceType: 2,
    features: simFeatures(2) | bit(5),
  }),
  "blk.unknown-type": blkFault("blk-unsupp-ok"),
  "blk.get-id": blkFault("blk-bad-status"),
  "blk.config.read-only": blkFault("config-writable"),
  "blk.discard.unmap-flag": blkFault("blk-discard-flags-ok"),
  "blk.discard.unknown-flag": blkFault("blk-discard-flags-ok"),
  "blk.write-zeroes.unknown-flag": blkFault("blk-discard-flags-ok"),
  "rng.fills": fault("rng-empty", { deviceType: 4 }),
  "console.max-ports": {
    base: {
      deviceType: 3,
      features: simFeatures(3) | bit(1),
      config: simConfig(3, (v) => v.setUint32(4, 1, true)),
    },
    mutant: { config: simConfig(3, (v) => v.setUint32(4, 0, true)) },
  },
};
