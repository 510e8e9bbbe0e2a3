/**
 * **virtio**: probe and drive virtio PCI devices from Linux user space, as a library.
 *
 * Everything the `virtio` commands do is here as functions and types:
 *
 * - **probe** (read-only): {@link probeAll}, {@link probeDevice} → {@link ProbeReport};
 *   feature names ({@link nameFeatures}), config decoders ({@link CONFIG_DECODERS}).
 * - **take a device over**: {@link VirtioPciDevice.open} (sysfs or VFIO access path); it is
 *   `Disposable`, and closing it resets the device and gives it back to its original driver.
 * - **negotiate**: {@link decideFeatures}, {@link initializeDevice} (VIRTIO 1.2 §3.1.1).
 * - **queues**: {@link createVirtqueue} (split and packed).
 * - **net**: {@link VirtioNet} with {@link TxQueue} / {@link RxQueue} fixed-slot queues.
 * - **pktgen**: frame building, flows, stats ({@link FrameWriter}, {@link parseFrame} ...)
 *   and a whole session with interval callbacks ({@link runSession}).
 * - **binding**: {@link DeviceClaim}, {@link bindDevice}, {@link unbindDevice},
 *   {@link virtioStatus}, {@link restoreAbandonedClaims}.
 * - **diagnostics**: {@link diagnose} (named checks, pass/warn/fail/skip), {@link renderJUnit}.
 * - **the lab**: {@link runInLab} / {@link startLab} boot a QEMU VM with real virtio devices.
 *
 * Fakes for testing your own scripts (fake config space, register-level fake device, fake
 * DMA, simulated queues and a loopback NIC) are in the `testing` entry point
 * (`testing/mod.ts`).
 *
 * Errors: {@link UsageError} (bad input), {@link VirtioError} (with a `hint`), and its
 * subclasses {@link DeviceError} (the device broke the contract), {@link TimeoutError},
 * {@link SystemError} (a libc call failed, with errno).
 *
 * @example Negotiate with a (fake) device: §3.1.1 up to DRIVER_OK
 * ```ts
 * import { initializeDevice, ModernTransport, statusNames } from "./mod.ts";
 * import { FakeModernBar } from "./testing/mod.ts";
 *
 * const bar = new FakeModernBar({ deviceType: 1, features: (1n << 32n) | (1n << 5n) });
 * using transport = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
 * const { decision } = initializeDevice(transport, { wanted: 1n << 5n }, () => undefined);
 * if (decision.accepted !== ((1n << 32n) | (1n << 5n))) throw new Error("MAC + VERSION_1");
 * if (!statusNames(transport.getStatus()).includes("DRIVER_OK")) throw new Error("not live");
 * ```
 *
 * @example Send a frame and get it back from a simulated loopback NIC
 * ```ts
 * import { ModernTransport, VirtioNet } from "./mod.ts";
 * import { FakeDma, FakeModernBar, SimNetLoopback } from "./testing/mod.ts";
 *
 * const mac = [0x02, 0, 0, 0, 0, 1];
 * const bar = new FakeModernBar({
 *   deviceType: 1,
 *   features: (1n << 32n) | (1n << 5n),
 *   queueSizes: [64, 64],
 *   config: new Uint8Array([...mac, 0, 0, 0, 0, 0, 0]),
 * });
 * const dma = new FakeDma();
 * const transport = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
 * const net = VirtioNet.open(transport, dma, { format: "split" });
 * const sim = new SimNetLoopback(dma, { format: "split", size: 64 });
 * sim.attach(bar.state.queues[0]!, bar.state.queues[1]!);
 *
 * const { tx, rx } = net.pairs[0]!;
 * const slot = tx.nextSlot();
 * tx.frames[slot]!.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...mac, 0x88, 0xb5]);
 * tx.send(slot, 60);
 * tx.flush();
 * sim.step(); // the device side moves the frame from tx to rx
 * const got = new Uint32Array(64);
 * if (rx.poll(got) !== 1 || rx.frameLengths[got[0]!] !== 60) throw new Error("lost");
 * if (net.mac !== "02:00:00:00:00:01") throw new Error("mac");
 * ```
 *
 * @example Feature dependencies and a JUnit report, as `virtio diag` does
 * ```ts
 * import { check, featureViolations, makeReport, renderJUnit } from "./mod.ts";
 *
 * // virtio-net: MQ (bit 22) needs CTRL_VQ (bit 17) — §5.1.3.1.
 * const problems = featureViolations(1, 1n << 22n);
 * if (problems[0] !== "MQ without CTRL_VQ") throw new Error(problems.join());
 * const report = makeReport([{
 *   address: "0000:00:04.0",
 *   type: "net",
 *   kind: "modern",
 *   verdict: "fail",
 *   checks: [check.fail("virtio.features", problems.join("; "))],
 * }], false);
 * if (report.ok || !renderJUnit(report).includes("<failure")) throw new Error("junit");
 * ```
 *
 * @module
 */

// ---- errors ----
export { DeviceError, SystemError, TimeoutError, UsageError, VirtioError } from "./lib/errors.ts";

// ---- probe (read-only) ----
export { probeAll, probeDevice, type ProbeOptions } from "./lib/probe/probe.ts";
export type { BarOpener } from "./lib/probe/registers.ts";
export type { ConfigOpener } from "./lib/probe/device_registers.ts";
export { type KernelFields, type KernelView, readKernelView } from "./lib/probe/kernel_view.ts";
export { PCI_CFG_CAP, PciCfgWindow, WindowError, type WindowTarget } from "./lib/pci/cfg_window.ts";
export {
  type DeviceReport,
  type FactSource,
  type FeatureSet,
  type NonPciDevice,
  PROBE_SCHEMA,
  type ProbeReport,
} from "./lib/probe/report.ts";
export { type RenderOptions, renderReport } from "./lib/probe/render.ts";
export {
  CONFIG_DECODERS,
  type ConfigDecoder,
  type ConfigFields,
  type ConfigValue,
  type DecodeContext,
} from "./lib/virtio/config/mod.ts";
export * from "./lib/virtio/features.ts";
export * from "./lib/virtio/constants.ts";
export * from "./lib/virtio/device_types.ts";
export { normalizePciAddress } from "./lib/pci/address.ts";

// ---- transports and negotiation ----
export type {
  DeviceConfigAccess,
  QueueAddresses,
  RawConfig,
  Transport,
} from "./lib/virtio/transport.ts";
export { ModernTransport, type ModernTransportOptions } from "./lib/virtio/modern_transport.ts";
export { LegacyTransport } from "./lib/virtio/legacy_transport.ts";
export {
  type BarSizes,
  parseVirtioCapabilities,
  type VirtioPciCap,
} from "./lib/virtio/capabilities.ts";
export type { PciCapability } from "./lib/pci/capabilities.ts";
export {
  checkDeviceStatus,
  decideFeatures,
  type FeatureDecision,
  type FeatureNote,
  type FeatureRequest,
  initializeDevice,
} from "./lib/virtio/initialize.ts";
export type { ConfigSpace } from "./lib/pci/config_space.ts";
export type { LittleEndianAccess, RegisterRegion } from "./lib/pci/region.ts";

// ---- taking a device over ----
export {
  type AccessPath,
  type OpenOptions,
  VirtioPciDevice,
} from "./lib/driver/virtio_pci_device.ts";
export type { DmaAllocator, DmaRegion } from "./lib/dma/memory.ts";

// ---- queues ----
export {
  createVirtqueue,
  type QueueStats,
  type RingFormat,
  type RingQueue,
  type Segment,
  type Virtqueue,
  type VirtqueueOptions,
} from "./lib/queue/virtqueue.ts";

// ---- net ----
export { type QueuePair, VirtioNet, type VirtioNetOptions } from "./lib/net/virtio_net.ts";
export { DEFAULT_SLOT_SIZE, RxQueue, type SlotQueue, TxQueue } from "./lib/net/packet_queues.ts";
export type { ControlQueue } from "./lib/net/control.ts";

// ---- pktgen ----
export * from "./lib/pktgen/mod.ts";
export {
  type DeviceInfo,
  type DoorbellCounts,
  type Expectations,
  type FlowInfo,
  type NetPort,
  type QueuePairCounts,
  runSession,
  type SessionDeps,
  type SessionResult,
} from "./lib/pktgen/run/session.ts";
export type { EngineResult, LinkEvent, StopReason } from "./lib/pktgen/run/engine.ts";
export {
  type AccessChoice,
  type AddressSpecs,
  type PktgenMode,
  type PktgenOptions,
  type RingChoice,
} from "./lib/pktgen/run/options.ts";

// ---- binding ----
export {
  type ClaimOptions,
  type ClaimRecord,
  DeviceClaim,
  readClaim,
  restoreAbandonedClaims,
  type RestoredClaim,
} from "./lib/device/claim.ts";
export { currentDriver, type SysfsOptions, type SysfsWriter } from "./lib/pci/binding.ts";
export {
  bindDevice,
  type BindResult,
  type DevbindOptions,
  type DeviceStatus,
  unbindDevice,
  virtioStatus,
} from "./lib/device/devbind.ts";
export { type DeviceUsage, deviceUsage, type InUseOptions } from "./lib/device/in_use.ts";

// ---- diagnostics ----
export {
  check,
  type CheckResult,
  type CheckStatus,
  type DeviceDiagnosis,
  DIAG_SCHEMA,
  type DiagReport,
  type DiagSummary,
  makeReport,
  verdictOf,
} from "./lib/diag/report.ts";
export { diagnose, diagnoseDevice, type DiagOptions, listVirtioFunctions } from "./lib/diag/run.ts";
export {
  type GatherOptions,
  gatherPassiveInput,
  type LinkState,
  passiveChecks,
  type PassiveInput,
} from "./lib/diag/passive.ts";
export { activeChecks, type ActiveOptions, type TakenDevice } from "./lib/diag/active.ts";
export { FEATURE_RULES, type FeatureRule, featureViolations } from "./lib/diag/feature_rules.ts";
export { renderDiagJsonLine, renderDiagText, renderJUnit } from "./lib/diag/render.ts";

// ---- the lab ----
export { type LabOptions, type LabResult, type LabVm, runInLab, startLab } from "./lib/lab/vm.ts";
export type { LabDevice } from "./lib/lab/devices.ts";
export type { Qmp, QmpValue } from "./lib/lab/qmp.ts";
export type { Command, CommandIO } from "./commands/command.ts";

// ---- virtio-blk: the driver (§5.2) and blkgen's job ----
export { VirtioBlk, type VirtioBlkOptions } from "./lib/blk/virtio_blk.ts";
export { type BlkCompletion, type BlkRequest, BlkRequestQueue } from "./lib/blk/request_queue.ts";
export {
  type BlkLimits,
  blkLimits,
  type BlkRawConfig,
  type BlkStatus,
  checkBlkRequest,
  decodeBlkId,
  decodeBlkStatus,
  encodeBlkHeader,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
} from "./lib/blk/protocol.ts";
export { checkPattern, crc32c, fillPattern, type PatternCheck } from "./lib/blk/pattern.ts";
export {
  type BlkDirectionStats,
  type BlkInterval,
  type BlkIntervalRates,
  type BlkJobDeps,
  type BlkJobOptions,
  type BlkJobResult,
  type BlkTarget,
  jobRange,
  runBlkJob,
  type VerifyMismatch,
} from "./lib/blk/job.ts";
export {
  flushOnce,
  type OnceOptions,
  rangesOnce,
  readOnce,
  type ReadResult,
} from "./lib/blk/read_blocks.ts";
export {
  type BlkRange,
  checkRanges,
  encodeRanges,
  RANGE_BYTES,
  type RangeLimits,
} from "./lib/blk/ranges.ts";
export { parseByteSize, RW_MODES, type RwMode, Workload } from "./lib/blk/workload.ts";
export { type BlkDeviceInfo, BLKGEN_SCHEMA, blkgenJson } from "./lib/blk/report.ts";

// ---- conformance checks (virtio conform, docs/conformance.md) ----
export type { DevicePciAccess } from "./lib/driver/virtio_pci_device.ts";
export type { Check, CheckOutcome, Verdict } from "./lib/conform/check.ts";
export type { ConformContext, PciView } from "./lib/conform/context.ts";
export { makeContext, pciView } from "./lib/conform/context.ts";
export {
  CONFORM_SCHEMA,
  type ConformReport,
  type ConformResult,
  runChecks,
  runChecksAsync,
  selectChecks,
} from "./lib/conform/run.ts";
export { CONFORM_CHECKS } from "./lib/conform/registry.ts";
export { deviceContext } from "./lib/conform/open.ts";
export {
  renderCheckList,
  renderConformJson,
  renderConformJUnit,
  renderConformText,
} from "./lib/conform/render.ts";
