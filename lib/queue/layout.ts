/**
 * Ring layouts of VIRTIO 1.2 §2.7 (split) and §2.8 (packed): sizes, alignments, offsets and
 * flag values as named constants, plus the arithmetic that places a queue's areas in memory.
 * All fields are little-endian (§2.7 "Split Virtqueues", §2.8 "Packed Virtqueues").
 *
 * @module
 */

/** Largest queue size either format allows (§2.6: "Queue Size ... maximum 32768"). */
export const MAX_QUEUE_SIZE = 32768;

// ---- Split virtqueue (§2.7) -------------------------------------------------------------

/** §2.7.5 "The Virtqueue Descriptor Table": struct virtq_desc is 16 bytes. */
export const SPLIT_DESC_SIZE = 16;
/** Offsets inside struct virtq_desc: le64 addr; le32 len; le16 flags; le16 next. */
export const SPLIT_DESC_ADDR = 0;
export const SPLIT_DESC_LEN = 8;
export const SPLIT_DESC_FLAGS = 12;
export const SPLIT_DESC_NEXT = 14;

/** §2.7.5: VIRTQ_DESC_F_NEXT, the buffer continues via the next field. */
export const VIRTQ_DESC_F_NEXT = 1;
/** §2.7.5: VIRTQ_DESC_F_WRITE, the buffer is device write-only (otherwise read-only). */
export const VIRTQ_DESC_F_WRITE = 2;
/** §2.7.5.3: VIRTQ_DESC_F_INDIRECT, the buffer holds a table of descriptors. */
export const VIRTQ_DESC_F_INDIRECT = 4;

/** §2.7.6 "The Virtqueue Available Ring": le16 flags; le16 idx; le16 ring[N]; le16 used_event. */
export const AVAIL_FLAGS = 0;
export const AVAIL_IDX = 2;
export const AVAIL_RING = 4;
/** §2.7.6: VIRTQ_AVAIL_F_NO_INTERRUPT, the driver asks the device not to interrupt. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

/** §2.7.8 "The Virtqueue Used Ring": le16 flags; le16 idx; {le32 id; le32 len}[N]; le16 avail_event. */
export const USED_FLAGS = 0;
export const USED_IDX = 2;
export const USED_RING = 4;
/** struct virtq_used_elem is 8 bytes: le32 id, le32 len. */
export const USED_ELEM_SIZE = 8;
/** §2.7.8: VIRTQ_USED_F_NO_NOTIFY, the device asks the driver not to notify (kick). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** §2.7 table "Virtqueue Part Alignment": descriptor table 16, available ring 2, used ring 4. */
export const SPLIT_DESC_ALIGN = 16;
export const SPLIT_AVAIL_ALIGN = 2;
export const SPLIT_USED_ALIGN = 4;
/** §2.7.2 "Legacy Interfaces: A Note on Virtqueue Layout": used ring starts on a 4096 boundary. */
export const LEGACY_QUEUE_ALIGN = 4096;

/** Bytes of the descriptor table for `size` entries (§2.7). */
export function splitDescBytes(size: number): number {
  return SPLIT_DESC_SIZE * size;
}
/** Bytes of the available ring including used_event (§2.7: 6 + 2 × Queue Size). */
export function splitAvailBytes(size: number): number {
  return 6 + 2 * size;
}
/** Bytes of the used ring including avail_event (§2.7: 6 + 8 × Queue Size). */
export function splitUsedBytes(size: number): number {
  return 6 + USED_ELEM_SIZE * size;
}
/** Byte offset of used_event inside the available ring (it follows ring[size]). */
export function usedEventOffset(size: number): number {
  return AVAIL_RING + 2 * size;
}
/** Byte offset of avail_event inside the used ring (it follows ring[size]). */
export function availEventOffset(size: number): number {
  return USED_RING + USED_ELEM_SIZE * size;
}

export function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

/** Where the three split areas sit inside one contiguous region, and its total size. */
export interface SplitLayout {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly total: number;
  /** Alignment the region itself must have. */
  readonly align: number;
}

/**
 * One contiguous region: descriptors, then the available ring, then the used ring.
 * Legacy (§2.7.2): the transport gives the device only the descriptor table's page number,
 * and the device finds the used ring at the next 4096 boundary after the available ring.
 * Modern: the natural alignments of §2.7 suffice (the areas could even be apart).
 */
export function splitLayout(size: number, legacy: boolean): SplitLayout {
  const desc = 0;
  const avail = desc + splitDescBytes(size);
  const usedAlign = legacy ? LEGACY_QUEUE_ALIGN : SPLIT_USED_ALIGN;
  const used = alignUp(avail + splitAvailBytes(size), usedAlign);
  const end = used + splitUsedBytes(size);
  return {
    desc,
    avail,
    used,
    total: legacy ? alignUp(end, LEGACY_QUEUE_ALIGN) : alignUp(end, 8),
    align: legacy ? LEGACY_QUEUE_ALIGN : SPLIT_DESC_ALIGN,
  };
}

// ---- Packed virtqueue (§2.8) ------------------------------------------------------------

/** §2.8.13 struct pvirtq_desc: le64 addr; le32 len; le16 id; le16 flags — 16 bytes. */
export const PACKED_DESC_SIZE = 16;
export const PACKED_DESC_ADDR = 0;
export const PACKED_DESC_LEN = 8;
export const PACKED_DESC_ID = 12;
export const PACKED_DESC_FLAGS = 14;

/** §2.8.13: flag bit 0 NEXT, bit 1 WRITE, bit 2 INDIRECT (same values as the split ring). */
export const VIRTQ_PACKED_F_NEXT = 1 << 0;
export const VIRTQ_PACKED_F_WRITE = 1 << 1;
export const VIRTQ_PACKED_F_INDIRECT = 1 << 2;
/** §2.8.1 "Driver and Device Ring Wrap Counters": AVAIL is bit 7, USED is bit 15. */
export const VIRTQ_PACKED_F_AVAIL = 1 << 7;
export const VIRTQ_PACKED_F_USED = 1 << 15;

/** §2.8.14 struct pvirtq_event_suppress: le16 desc (off_wrap); le16 flags. 4 bytes. */
export const EVENT_SUPPRESS_SIZE = 4;
export const EVENT_OFF_WRAP = 0;
export const EVENT_FLAGS = 2;
/** §2.8.14: bit 15 of off_wrap is the wrap counter, bits 0–14 the descriptor offset. */
export const EVENT_WRAP_BIT = 15;
/** §2.8.14 RING_EVENT_FLAGS_*: enable events, disable them, or ask for one at `off_wrap`. */
export const RING_EVENT_FLAGS_ENABLE = 0;
export const RING_EVENT_FLAGS_DISABLE = 1;
export const RING_EVENT_FLAGS_DESC = 2;

/** §2.8.10.1 table: descriptor ring aligned to 16, both event structures to 4. */
export const PACKED_DESC_ALIGN = 16;
export const PACKED_EVENT_ALIGN = 4;

/** Where the packed areas sit inside one region: ring, driver event, device event. */
export interface PackedLayout {
  readonly desc: number;
  readonly driver: number;
  readonly device: number;
  readonly total: number;
  readonly align: number;
}

export function packedLayout(size: number): PackedLayout {
  const desc = 0;
  const driver = PACKED_DESC_SIZE * size;
  const device = driver + EVENT_SUPPRESS_SIZE;
  return { desc, driver, device, total: device + EVENT_SUPPRESS_SIZE, align: PACKED_DESC_ALIGN };
}

/**
 * §2.7.7 / §2.7.10 / §2.8.10: `vring_need_event` — true when the event index `event` lies in the
 * half-open window (old, new] of indices just published, all modulo 2^16.
 */
export function needEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
