/**
 * CPU affinity of the calling thread (sched_getaffinity / sched_setaffinity with pid 0).
 * Only the calling thread moves: threads the runtime started earlier (V8's compiler and GC
 * helpers, the I/O threads) keep their own masks, so a pinned poll loop does not have to share
 * its CPU with them.
 *
 * @module
 */
import { checked } from "./errno.ts";
import { libc } from "./libc.ts";

/** Bytes of the cpu_set_t we pass: 1024 CPUs, glibc's CPU_SETSIZE. */
const MASK_BYTES = 128;
/** The highest CPU number a mask here can name. */
export const MAX_CPU = MASK_BYTES * 8 - 1;

/** A CPU mask as the kernel keeps it: one bit per CPU. */
export type CpuMask = Uint8Array;

/** The CPUs the calling thread may run on now. */
export function threadAffinity(): CpuMask {
  const mask = new Uint8Array(MASK_BYTES);
  checked(libc().sched_getaffinity(0, BigInt(MASK_BYTES), mask), "sched_getaffinity");
  return mask;
}

/** Sets the calling thread's CPU mask (e.g. one {@link threadAffinity} returned). */
export function setThreadAffinity(mask: CpuMask): void {
  if (mask.length !== MASK_BYTES) throw new RangeError(`a CPU mask is ${MASK_BYTES} bytes`);
  checked(libc().sched_setaffinity(0, BigInt(MASK_BYTES), mask), "sched_setaffinity");
}

/** The CPU numbers set in `mask`, ascending. */
export function cpusOf(mask: CpuMask): number[] {
  const cpus: number[] = [];
  for (let i = 0; i <= MAX_CPU; i++) if (mask[i >> 3]! & (1 << (i & 7))) cpus.push(i);
  return cpus;
}

/** A mask with exactly `cpus` set. */
export function maskOf(cpus: readonly number[]): CpuMask {
  const mask = new Uint8Array(MASK_BYTES);
  for (const c of cpus) {
    if (!(Number.isInteger(c) && c >= 0 && c <= MAX_CPU)) {
      throw new RangeError(`CPU ${c} is not in 0..${MAX_CPU}`);
    }
    mask[c >> 3]! |= 1 << (c & 7);
  }
  return mask;
}

/** `0-3,6` for [0, 1, 2, 3, 6]. */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Throws RangeError when `cpu` is not set in `mask`, naming the CPUs that are. */
function refuseUnlessIn(cpu: number, mask: CpuMask): void {
  const allowed = cpusOf(mask);
  if (!allowed.includes(cpu)) {
    throw new RangeError(
      `CPU ${cpu} is not one this process may run on (${formatCpuList(allowed)})`,
    );
  }
}

/**
 * Throws RangeError when the calling thread may not run on `cpu` now: the check
 * {@link pinThisThread} makes, for callers that want to refuse before doing anything else.
 */
export function checkCpuAllowed(cpu: number): void {
  refuseUnlessIn(cpu, threadAffinity());
}

/**
 * Pins the calling thread to `cpu` until the returned handle is disposed, which puts the mask
 * back as it was. Throws RangeError when `cpu` is not one the thread may run on now.
 */
export function pinThisThread(cpu: number): Disposable {
  const before = threadAffinity();
  refuseUnlessIn(cpu, before);
  setThreadAffinity(maskOf([cpu]));
  return { [Symbol.dispose]: () => setThreadAffinity(before) };
}
