/**
 * errno values (x86_64 Linux, `asm-generic/errno-base.h` and `errno.h`) and the one helper
 * that turns a failed libc return into a {@link SystemError} naming the operation.
 *
 * @module
 */

import { SystemError } from "../errors.ts";
import { lastErrno } from "./libc.ts";

/** errno → symbolic name. */
export const ERRNO_NAMES: ReadonlyMap<number, string> = new Map([
  [1, "EPERM"],
  [2, "ENOENT"],
  [3, "ESRCH"],
  [4, "EINTR"],
  [5, "EIO"],
  [6, "ENXIO"],
  [7, "E2BIG"],
  [9, "EBADF"],
  [11, "EAGAIN"],
  [12, "ENOMEM"],
  [13, "EACCES"],
  [14, "EFAULT"],
  [16, "EBUSY"],
  [17, "EEXIST"],
  [19, "ENODEV"],
  [20, "ENOTDIR"],
  [21, "EISDIR"],
  [22, "EINVAL"],
  [23, "ENFILE"],
  [24, "EMFILE"],
  [25, "ENOTTY"],
  [28, "ENOSPC"],
  [30, "EROFS"],
  [34, "ERANGE"],
  [38, "ENOSYS"],
  [95, "EOPNOTSUPP"],
  [110, "ETIMEDOUT"],
]);

/** Symbolic name of `errno`, or `E<number>` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** What a user can do about a common errno, when there is something to say. */
export function errnoHint(errno: number): string | undefined {
  switch (errno) {
    case 1: // EPERM
    case 13: // EACCES
      return "run as root (sudo), or check that the file is not locked down";
    case 16: // EBUSY
      return "another driver or process holds the device";
    case 12: // ENOMEM
      return "not enough memory, locked-memory limit (ulimit -l) or hugepages";
    default:
      return undefined;
  }
}

/** A {@link SystemError} for `operation` with the given errno (default: the current one). */
export function systemError(
  operation: string,
  errno: number = lastErrno(),
  hint: string | undefined = errnoHint(errno),
): SystemError {
  return new SystemError(operation, errno, errnoName(errno), hint === undefined ? {} : { hint });
}

/**
 * Returns `result` when it is not negative; otherwise throws a {@link SystemError} built
 * from errno, e.g. `ioctl(VFIO_GROUP_GET_STATUS, /dev/vfio/3): EINVAL (errno 22)`.
 */
export function checked<T extends number | bigint>(result: T, operation: string): T {
  if (result < 0) throw systemError(operation);
  return result;
}
