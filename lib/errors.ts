/**
 * Error types shared by every layer. `main.ts` maps them to exit codes:
 * {@link UsageError} → 2, everything else → 1.
 *
 * @module
 */

/** The user asked for something malformed (bad option, bad address). Exit code 2. */
export class UsageError extends Error {
  /** The error name. */
  override name = "UsageError";
}

/** A failure with a reason a user can act on (missing privileges, device in use ...). */
export class VirtioError extends Error {
  /** The error name. */
  override name = "VirtioError";
  /** What the user can do about it, printed after the message when present. */
  readonly hint?: string;
  /** An error with an optional hint for the user and an optional cause. */
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.hint !== undefined) this.hint = options.hint;
  }
}

/**
 * A refusal for the machine's or the data's sake: the device is in use (mounted, routed,
 * the root disk) or holds data a write would destroy. Commands that write data (blkgen)
 * exit 2 on it, as for a request that should not have been made.
 */
export class RefusedError extends VirtioError {
  /** The error name. */
  override name = "RefusedError";
}

/** A libc call failed. Carries the operation, errno and its symbolic name. */
export class SystemError extends VirtioError {
  /** The error name. */
  override name = "SystemError";
  /** `operation` failed with `errno` (symbolic name `code`); the message says both. */
  constructor(
    readonly operation: string,
    readonly errno: number,
    readonly code: string,
    options?: { hint?: string },
  ) {
    super(`${operation}: ${code} (errno ${errno})`, options);
  }
}

/**
 * The device broke the VIRTIO contract (bad used id, impossible length, FEATURES_OK
 * refused ...). The queue or device that saw it is marked broken and fails from then on.
 */
export class DeviceError extends VirtioError {
  /** The error name. */
  override name = "DeviceError";
}

/** A bounded wait for the device ran out. */
export class TimeoutError extends VirtioError {
  /** The error name. */
  override name = "TimeoutError";
}
