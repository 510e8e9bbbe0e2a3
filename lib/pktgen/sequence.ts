/**
 * Loss, duplicates and reordering from the u32 sequence numbers of one flow, with a sliding
 * bitmap of the last {@link SEQUENCE_WINDOW} sequence numbers (8 KiB, allocated once).
 *
 * Definitions (close to RFC 4737 / RFC 5560 as a receiver can see them):
 * - unique: distinct sequence numbers received;
 * - duplicate: a sequence number already seen within the window;
 * - reordered: a new sequence number lower than the highest seen so far;
 * - late: lower than the highest by a window or more (cannot be judged; not counted unique);
 * - lost: sequence numbers from the first to the highest seen that never arrived
 *   ({@link SequenceTracker.lost}), or, when the sender's count is known (loopback),
 *   sent − unique, which also counts a lost tail.
 * u32 wrap-around is handled by extending numbers relative to the highest seen.
 *
 * @module
 */

/** How far back duplicates and reordering are recognised. */
export const SEQUENCE_WINDOW = 65536;
const MASK = SEQUENCE_WINDOW - 1;

/** Per-flow loss, duplicate and reordering accounting over a sliding window (see the module doc). */
export class SequenceTracker {
  readonly #bits = new Uint32Array(SEQUENCE_WINDOW / 32);
  /** Highest sequence number seen, extended beyond 32 bits; -1 before the first. */
  highest: number = -1;
  /** Lowest sequence number seen (extended; may be negative after a wrap backwards). */
  first = 0;
  /** Distinct sequence numbers received. */
  unique = 0;
  /** Numbers already seen within the window. */
  duplicates = 0;
  /** New numbers lower than the highest seen. */
  reordered = 0;
  /** Numbers a window or more below the highest (not counted unique). */
  late = 0;

  #test(ext: number): boolean {
    const i = ext & MASK;
    return (this.#bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  #set(ext: number): void {
    const i = ext & MASK;
    this.#bits[i >>> 5]! |= 1 << (i & 31);
  }

  #clear(ext: number): void {
    const i = ext & MASK;
    this.#bits[i >>> 5]! &= ~(1 << (i & 31));
  }

  /** Records a received u32 sequence number. */
  record(seq: number): void {
    if (this.unique === 0 && this.highest < 0) {
      this.highest = this.first = seq >>> 0;
      this.#set(this.highest);
      this.unique = 1;
      return;
    }
    const delta = ((seq >>> 0) - (this.highest % 4294967296)) | 0; // signed 32-bit distance
    const ext = this.highest + delta;
    if (delta > 0) {
      // The slots of the numbers we skip (and the new one) leave the window: clear them.
      if (delta >= SEQUENCE_WINDOW) this.#bits.fill(0);
      else for (let s = this.highest + 1; s <= ext; s++) this.#clear(s);
      this.highest = ext;
      this.#set(ext);
      this.unique++;
    } else if (delta === 0) {
      this.duplicates++;
    } else if (-delta >= SEQUENCE_WINDOW) {
      this.late++;
    } else if (this.#test(ext)) {
      this.duplicates++;
    } else {
      this.#set(ext);
      this.unique++;
      this.reordered++;
      if (ext < this.first) this.first = ext;
    }
  }

  /** Numbers between the first and highest seen that have not arrived. */
  get lost(): number {
    return this.highest < 0 ? 0 : Math.max(0, this.highest - this.first + 1 - this.unique);
  }

  /** Forgets everything, as before the first packet. */
  reset(): void {
    this.#bits.fill(0);
    this.highest = -1;
    this.first = 0;
    this.unique =
      this.duplicates =
      this.reordered =
      this.late =
        0;
  }
}
