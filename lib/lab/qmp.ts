/**
 * A small QMP client (QEMU Machine Protocol, JSON over a unix socket) so the host side of a
 * lab test can inject real faults: `set_link`, `device_del`, `stop`/`cont`.
 *
 * @module
 */

/** A JSON value from QEMU (not validated). */
export type QmpValue = unknown;

/** A QMP client over QEMU's unix socket: run commands, collect asynchronous events. */
export class Qmp implements AsyncDisposable {
  #conn: Deno.UnixConn;
  #buffer = "";
  #decoder = new TextDecoder();
  /** Asynchronous events QEMU sent (e.g. DEVICE_DELETED), in order. */
  readonly events: { event: string; data?: QmpValue }[] = [];

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  /** Connects, reads the greeting and enters command mode. Retries while QEMU starts. */
  static async connect(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const qmp = new Qmp(await Deno.connect({ transport: "unix", path }));
        await qmp.#readMessage(); // greeting
        await qmp.execute("qmp_capabilities");
        return qmp;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`QMP at ${path}: ${e}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async #readMessage(): Promise<Record<string, QmpValue>> {
    const chunk = new Uint8Array(65536);
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl).trim();
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line) return JSON.parse(line);
        continue;
      }
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("QMP connection closed");
      this.#buffer += this.#decoder.decode(chunk.subarray(0, n), { stream: true });
    }
  }

  /** Runs one command and returns its `return` value; QMP errors become exceptions. */
  async execute(command: string, args?: Record<string, QmpValue>): Promise<QmpValue> {
    const msg = JSON.stringify(args ? { execute: command, arguments: args } : { execute: command });
    await this.#conn.write(new TextEncoder().encode(msg + "\n"));
    for (;;) {
      const reply = await this.#readMessage();
      if ("event" in reply) {
        this.events.push({ event: String(reply.event), data: reply.data });
        continue;
      }
      if ("error" in reply) {
        const err = reply.error as { class?: string; desc?: string };
        throw new Error(`QMP ${command}: ${err.class}: ${err.desc}`);
      }
      return reply.return;
    }
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    return Promise.resolve();
  }
}
