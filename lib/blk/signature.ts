/**
 * Is there data worth keeping on a disk? Looks for well-known on-disk signatures in the first
 * 68 KiB (read through the device itself, so it works once the kernel driver is gone). blkgen
 * refuses to write a disk that shows one, unless --force. Read-only: nothing here writes.
 * @module
 */

/** Bytes from the start of the disk that {@link diskSignature} looks at. */
export const SIGNATURE_PROBE_BYTES = 0x11000;

function ascii(b: Uint8Array, at: number, s: string): boolean {
  if (at + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

function le32(b: Uint8Array, at: number): number | undefined {
  if (at + 4 > b.length) return undefined;
  return new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, true);
}

/** The first signature found in `head` (the disk's first bytes), or undefined. */
export function diskSignature(head: Uint8Array): string | undefined {
  if (ascii(head, 512, "EFI PART")) return "GPT partition table";
  if (ascii(head, 512 + 0, "LABELONE") || ascii(head, 512 + 24, "LVM2 001")) return "LVM2 PV";
  if (ascii(head, 0x438, "\x53\xef")) return "ext2/3/4 filesystem";
  if (ascii(head, 0, "XFSB")) return "XFS filesystem";
  if (ascii(head, 0x10040, "_BHRfS_M")) return "btrfs filesystem";
  if (ascii(head, 4096 - 10, "SWAPSPACE2") || ascii(head, 4096 - 10, "SWAP-SPACE")) {
    return "swap area";
  }
  if (le32(head, 4096) === 0xa92b4efc || le32(head, 0) === 0xa92b4efc) return "MD RAID member";
  if (ascii(head, 0x52, "FAT32") || ascii(head, 0x36, "FAT1")) return "FAT filesystem";
  if (ascii(head, 3, "NTFS    ")) return "NTFS filesystem";
  if (ascii(head, 0x8001, "CD001")) return "ISO 9660 filesystem";
  if (head[510] === 0x55 && head[511] === 0xaa) return "MBR partition table / boot sector";
  return undefined;
}
