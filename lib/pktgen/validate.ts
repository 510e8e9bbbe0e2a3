/**
 * The receiver's side: parse a received frame, check it is one of ours (lengths, both
 * checksums, magic) and extract sequence number, tx timestamp and flow id. Received bytes
 * are untrusted: every offset is bounds-checked against the frame length before it is read.
 * Results go into a caller-owned {@link ReceivedFrame} that is reused, so nothing is
 * allocated per packet.
 *
 * @module
 */
import { foldSum, getU16, getU32, sumBytes } from "./checksum.ts";
import {
  ETH_HEADER,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_UDP,
  IPV6_HEADER,
  PAYLOAD_FLOW,
  PAYLOAD_HEADER,
  PAYLOAD_MAGIC,
  PAYLOAD_SEQ,
  PAYLOAD_TIMESTAMP,
  UDP_HEADER,
} from "./layout.ts";

/** Why a frame was rejected; `OK` (0) when it is a valid pktgen frame. */
export const RxStatus = {
  OK: 0,
  /** Shorter than the headers it claims, or IP/UDP lengths disagree with the frame. */
  BAD_LENGTH: 1,
  /** Not Ethernet II + IPv4/IPv6 + UDP (someone else's traffic). */
  NOT_UDP: 2,
  BAD_IP_CHECKSUM: 3,
  BAD_UDP_CHECKSUM: 4,
  /** UDP, but no pktgen payload header. */
  BAD_MAGIC: 5,
} as const;
/** One of the {@link RxStatus} values. */
export type RxStatus = typeof RxStatus[keyof typeof RxStatus];

/** Names of {@link RxStatus} values, indexed by value, for messages and JSON. */
export const RX_STATUS_NAMES = [
  "ok",
  "bad_length",
  "not_udp",
  "bad_ip_checksum",
  "bad_udp_checksum",
  "bad_magic",
] as const;

/** What {@link parseFrame} extracted; one instance is reused for every frame. */
export class ReceivedFrame {
  /** IP version of the frame. */
  ipVersion: 4 | 6 = 4;
  /** Sequence number from the payload header (u32). */
  seq = 0;
  /** Sender's tx timestamp in ns. */
  txNs = 0;
  /** Flow id from the payload header. */
  flowId = 0;
  /** UDP source port. */
  srcPort = 0;
  /** UDP destination port. */
  dstPort = 0;
  /** Bytes of IP datagram + Ethernet header the frame claims (≤ the buffer length). */
  frameBytes = 0;
}

/**
 * Parses the `len` bytes at `off` into `out` and returns an {@link RxStatus}. With
 * `verifyChecksums` (the default) the IPv4 header checksum and the UDP checksum over the
 * whole datagram are checked — O(frame length); turn it off for the fastest receive path.
 * Trailing bytes after the IP datagram (Ethernet padding) are allowed.
 */
export function parseFrame(
  buf: Uint8Array,
  off: number,
  len: number,
  out: ReceivedFrame,
  verifyChecksums = true,
): RxStatus {
  if (len < ETH_HEADER + 1 || off + len > buf.length) return RxStatus.BAD_LENGTH;
  const type = getU16(buf, off + 12);
  const ip = off + ETH_HEADER;
  let udp: number, udpLen: number, pseudo: number;
  if (type === ETHERTYPE_IPV4) {
    const ihl = (buf[ip]! & 0x0f) * 4;
    if (buf[ip]! >>> 4 !== 4 || ihl < 20) return RxStatus.NOT_UDP;
    if (len < ETH_HEADER + ihl) return RxStatus.BAD_LENGTH;
    if (buf[ip + 9] !== IPPROTO_UDP) return RxStatus.NOT_UDP;
    const total = getU16(buf, ip + 2);
    if (total < ihl + UDP_HEADER || ETH_HEADER + total > len) return RxStatus.BAD_LENGTH;
    // A non-first fragment carries no UDP header.
    if ((getU16(buf, ip + 6) & 0x3fff) !== 0) return RxStatus.NOT_UDP;
    if (verifyChecksums && foldSum(sumBytes(buf, ip, ihl)) !== 0xffff) {
      return RxStatus.BAD_IP_CHECKSUM;
    }
    udp = ip + ihl;
    udpLen = total - ihl;
    out.ipVersion = 4;
    out.frameBytes = ETH_HEADER + total;
    pseudo = verifyChecksums ? sumBytes(buf, ip + 12, 8) : 0;
  } else if (type === ETHERTYPE_IPV6) {
    if (len < ETH_HEADER + IPV6_HEADER) return RxStatus.BAD_LENGTH;
    if (buf[ip]! >>> 4 !== 6 || buf[ip + 6] !== IPPROTO_UDP) return RxStatus.NOT_UDP;
    udpLen = getU16(buf, ip + 4);
    if (udpLen < UDP_HEADER || ETH_HEADER + IPV6_HEADER + udpLen > len) {
      return RxStatus.BAD_LENGTH;
    }
    udp = ip + IPV6_HEADER;
    out.ipVersion = 6;
    out.frameBytes = ETH_HEADER + IPV6_HEADER + udpLen;
    pseudo = verifyChecksums ? sumBytes(buf, ip + 8, 32) : 0;
  } else {
    return RxStatus.NOT_UDP;
  }
  if (getU16(buf, udp + 4) !== udpLen) return RxStatus.BAD_LENGTH;
  const cksum = getU16(buf, udp + 6);
  if (verifyChecksums && (cksum !== 0 || out.ipVersion === 6)) {
    // RFC 768: the sum over pseudo-header + datagram, checksum included, folds to all ones.
    // IPv6 forbids the "no checksum" 0 (RFC 8200 §8.1); the fold check rejects it there.
    const sum = pseudo + IPPROTO_UDP + udpLen + sumBytes(buf, udp, udpLen);
    if (foldSum(sum) !== 0xffff || cksum === 0) return RxStatus.BAD_UDP_CHECKSUM;
  }
  out.srcPort = getU16(buf, udp);
  out.dstPort = getU16(buf, udp + 2);
  const p = udp + UDP_HEADER;
  if (udpLen < UDP_HEADER + PAYLOAD_HEADER || getU32(buf, p) !== PAYLOAD_MAGIC) {
    return RxStatus.BAD_MAGIC;
  }
  out.seq = getU32(buf, p + PAYLOAD_SEQ);
  out.txNs = getU32(buf, p + PAYLOAD_TIMESTAMP) * 4294967296 +
    getU32(buf, p + PAYLOAD_TIMESTAMP + 4);
  out.flowId = getU16(buf, p + PAYLOAD_FLOW);
  return RxStatus.OK;
}
