/** The host-need rule of tests/unit/host_needs.ts: run, ignore visibly, or fail under CI. */
import assert from "node:assert/strict";
import { decide, type HostNeed } from "./host_needs.ts";

const have = (what: string, ci = false): HostNeed => ({ what, ok: true, ci });
const lack = (what: string, ci = false): HostNeed => ({ what, ok: false, ci });

Deno.test("host needs: all there → run; one missing → ignored, naming it", () => {
  assert.deepEqual(decide([have("root"), have("tshark", true)], false), { action: "run" });
  assert.deepEqual(decide([have("root"), lack("a virtio NIC")], true), {
    action: "ignore",
    missing: "a virtio NIC",
  });
});

Deno.test("host needs: VIRTIO_REQUIRE_ALL turns a missing CI need into a failure", () => {
  assert.deepEqual(decide([lack("tshark", true), lack("root")], false), {
    action: "ignore",
    missing: "tshark, root",
  });
  assert.deepEqual(decide([lack("tshark", true), lack("root")], true), {
    action: "fail",
    missing: "tshark, root",
  });
});

Deno.test("host needs: hostTest under the switch registers a failing test (subprocess)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "host-needs-" });
  try {
    const file = `${dir}/t_test.ts`;
    const helper = new URL("./host_needs.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      file,
      `import { hostTest } from "${helper}";\n` +
        `hostTest("needs a tool", [{ what: "a tool", ok: false, ci: true }], () => {});\n`,
    );
    const run = (env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--no-check", file],
        env: { ...env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const ignored = await run({ VIRTIO_REQUIRE_ALL: "0" });
    const out = new TextDecoder().decode(ignored.stdout);
    assert.equal(ignored.code, 0, out);
    assert.match(out, /needs a tool \[needs a tool\] \.\.\. ignored/);
    const strict = await run({ VIRTIO_REQUIRE_ALL: "1" });
    assert.notEqual(strict.code, 0);
    assert.match(new TextDecoder().decode(strict.stdout), /CI must run this test/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
