/**
 * The device-independent half of `virtio pktgen`: frame building (template + patch, O(1)
 * checksums), flows, frame sizes, pacing, receive validation, statistics, pcap and SVG
 * charts. All hot-path calls work on caller-provided buffers and allocate nothing per
 * packet.
 *
 * @example Build, validate and count one frame
 * ```ts
 * import { FrameWriter, parseFrame, parseRange, ReceivedFrame, RunStats, RxStatus, wireSize } from "./mod.ts";
 *
 * const w = new FrameWriter({
 *   ipVersion: 4,
 *   srcMac: parseRange("mac", "02:00:00:00:00:01"),
 *   dstMac: parseRange("mac", "02:00:00:00:00:02"),
 *   srcIp: parseRange("ipv4", "10.0.0.1"),
 *   dstIp: parseRange("ipv4", "10.0.0.2-10.0.0.100"),
 *   srcPort: parseRange("port", "1000-2000,random"),
 *   dstPort: parseRange("port", "9"),
 *   maxWireSize: 1518,
 * });
 * const buf = new Uint8Array(2048);
 * w.prefill(buf, 0);
 * const len = w.write(buf, 0, 64, 0, 1000); // 64-byte frame → 60 bytes in the buffer
 * const rx = new ReceivedFrame();
 * const stats = new RunStats(0);
 * if (parseFrame(buf, 0, len, rx) !== RxStatus.OK) throw new Error("bad frame");
 * stats.countRx(wireSize(len), rx.flowId, rx.seq, rx.txNs, 5000);
 * ```
 *
 * @module
 */
export * from "./checksum.ts";
export * from "./flows.ts";
export * from "./frame.ts";
export * from "./histogram.ts";
export * from "./layout.ts";
export * from "./pacer.ts";
export * from "./pcap.ts";
export * from "./plot.ts";
export * from "./sequence.ts";
export * from "./sizes.ts";
export * from "./stats.ts";
export * from "./validate.ts";
