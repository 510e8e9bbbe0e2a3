import assert from "node:assert/strict";
import { parseLabArgs } from "../../commands/lab.ts";
import { UsageError } from "../../lib/errors.ts";

Deno.test("lab args: --capture and --capture-file go together, one NIC per run", () => {
  const ok = parseLabArgs(["--capture", "net-peer", "--capture-file", "out.pcap", "--", "true"]);
  assert.ok(ok !== "list");
  assert.deepEqual(ok.values.capture, ["net-peer"]);
  assert.equal(ok.values["capture-file"], "out.pcap");
  assert.ok(parseLabArgs(["--", "true"]) !== "list", "neither is fine");
  for (
    const args of [
      ["--capture", "net-peer"], // taken and thrown away
      ["--capture-file", "out.pcap"], // nothing to write
      ["--capture", "a", "--capture", "b", "--capture-file", "out.pcap"], // one file, two NICs
    ]
  ) {
    assert.throws(
      () => parseLabArgs([...args, "--", "true"]),
      (e) => e instanceof UsageError && /go together, one NIC per run/.test(e.message),
      args.join(" "),
    );
  }
});
