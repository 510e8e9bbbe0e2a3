/**
 * A synchronous, bounded pause for polling device registers (reset completion). Blocks the
 * thread without spinning the CPU, so a device that needs time gets it from the host.
 *
 * @module
 */
const cell = new Int32Array(new SharedArrayBuffer(4));

export function sleepSync(ms: number): void {
  Atomics.wait(cell, 0, 0, ms);
}

/**
 * Polls `done` until it returns true or `timeoutMs` passes, pausing with back-off.
 * Returns whether it became true.
 */
export function pollUntil(done: () => boolean, timeoutMs: number): boolean {
  const deadline = performance.now() + timeoutMs;
  let pause = 0.05;
  for (;;) {
    if (done()) return true;
    if (performance.now() >= deadline) return done();
    sleepSync(pause);
    pause = Math.min(pause * 2, 10);
  }
}
