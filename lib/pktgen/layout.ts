/**
 * Byte layout of the frames pktgen sends: Ethernet II + IPv4 (RFC 791) or IPv6 (RFC 8200) +
 * UDP (RFC 768) + our payload header, then a fill pattern. Offsets are from the frame start.
 *
 * Payload header (18 bytes, so a 64-byte IPv4 frame — 60 in the buffer — just holds it):
 *
 * | offset | size | field                                              |
 * |--------|------|----------------------------------------------------|
 * | 0      | 4    | magic 0x76706b74 ("vpkt")                           |
 * | 4      | 4    | sequence number, u32, per flow id, wraps            |
 * | 8      | 8    | tx timestamp, ns, u64, sender's monotonic clock; 0 unless loopback |
 * | 16     | 2    | flow id: the generator stream (one per TX queue)    |
 *
 * All fields are big-endian (network order), like the headers around them.
 *
 * @module
 */

/** Ethernet II header: destination MAC, source MAC, EtherType. */
export const ETH_HEADER = 14;
/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of IPv6. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** IPv4 header without options. */
export const IPV4_HEADER = 20;
/** IPv6 fixed header. */
export const IPV6_HEADER = 40;
/** UDP header. */
export const UDP_HEADER = 8;
/** IP protocol number of UDP. */
export const IPPROTO_UDP = 17;
/** IPv4 flags/fragment word with Don't Fragment set (RFC 791 §3.1). */
export const IPV4_DF = 0x4000;

/** Payload header magic, "vpkt". */
export const PAYLOAD_MAGIC = 0x76706b74;
/** Payload header size. */
export const PAYLOAD_HEADER = 18;
/** Offset of the sequence number within the payload header. */
export const PAYLOAD_SEQ = 4;
/** Offset of the tx timestamp within the payload header. */
export const PAYLOAD_TIMESTAMP = 8;
/** Offset of the flow id within the payload header. */
export const PAYLOAD_FLOW = 16;

/** Where the IP header starts. */
export const IP_OFFSET: number = ETH_HEADER;

/** Offset of the UDP header for an IP version. */
export function udpOffset(ipVersion: 4 | 6): number {
  return ETH_HEADER + (ipVersion === 4 ? IPV4_HEADER : IPV6_HEADER);
}

/** Offset of our payload header for an IP version. */
export function payloadOffset(ipVersion: 4 | 6): number {
  return udpOffset(ipVersion) + UDP_HEADER;
}

/** Smallest frame, in buffer bytes, that holds all headers and the payload header. */
export function minFrameBytes(ipVersion: 4 | 6): number {
  return payloadOffset(ipVersion) + PAYLOAD_HEADER;
}
