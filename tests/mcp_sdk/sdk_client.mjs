// `agora mcp` driven by the official MCP TypeScript SDK (Client + StdioClientTransport), as an MCP host would: the
// handshake, tools/list with every tool's annotations as the SDK parses them, a world from a shipped scenario advanced, snapshotted, changed (apply_action and
// set_agent_state) and restored to exactly the snapshot's metrics, progress notifications through the SDK's
// onprogress, a tool failure (isError) and a refused call (-32602) surfacing the SDK's way, and simulate_mechanics on
// a shipped scenario whose HDF5 file is read back with h5py and must hold the final values the tool returned, and the
// server keeping to its places (a run file outside --output-dir, a scenario outside --allow-read: refused).
//
// Run by CTest as `mcp_sdk` (label cli):  AGORA=build/agora AGORA_SOURCE_DIR=. node tests/mcp_sdk/sdk_client.mjs
// Needs tests/mcp_sdk/node_modules (scripts/setup runs `npm ci` here). Exits 1 with "FAIL: ..." on any mismatch.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

const show = (v) => JSON.stringify(v);

// The SDK is imported only once we know it is installed, so that a fresh checkout says what to do.
if (!existsSync(join(here, "node_modules", "@modelcontextprotocol", "sdk", "package.json"))) {
  fail(`${join(here, "node_modules")} is missing the MCP SDK: run scripts/setup (it runs npm ci in tests/mcp_sdk)`);
}
const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
const { McpError } = await import("@modelcontextprotocol/sdk/types.js");

if (!process.env.AGORA) fail("set AGORA to the path of the agora binary");
// A relative path is taken from here: the server runs in the scratch directory.
const AGORA = process.env.AGORA.includes("/") ? resolve(process.env.AGORA) : process.env.AGORA;
const SRC = resolve(process.env.AGORA_SOURCE_DIR || join(here, "..", ".."));
const TMP = resolve(process.env.AGORA_TEST_TMP || join(tmpdir(), `mcpt-sdk-${process.pid}`));
rmSync(TMP, { recursive: true, force: true });
mkdirSync(TMP, { recursive: true });
const OUT = join(TMP, "out");
const PY = "/usr/bin/python3";

// The annotations (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) each tool must declare.
const ANNOTATIONS = {
  list_models: [true, false, true, false], get_metrics: [true, false, true, false],
  get_agent_state: [true, false, true, false], list_worlds: [true, false, true, false],
  create_world: [false, false, false, false], advance_world: [false, true, false, false],
  set_agent_state: [false, true, true, false], apply_action: [false, true, false, false],
  snapshot_world: [false, false, false, false], restore_world: [false, true, true, false],
  copy_world: [false, false, false, false], delete_world: [false, true, true, false],
  simulate_mechanics: [false, false, false, false], simulate_mixed: [false, false, false, true],
  simulate_interactions: [false, false, false, true], validate_model: [true, false, true, false],
};

const TOOLS = [
  "list_models", "create_world", "advance_world", "get_metrics", "get_agent_state", "set_agent_state",
  "apply_action", "snapshot_world", "restore_world", "copy_world", "list_worlds", "delete_world",
  "simulate_mechanics", "simulate_mixed", "simulate_interactions", "validate_model",
];

// The server runs in the scratch directory (a relative path in a scenario lands there), with this process's
// environment (OMP_WAIT_POLICY, sanitizer options) rather than the SDK's reduced default one.
const transport = new StdioClientTransport({
  command: AGORA,
  args: ["mcp", "--output-dir", OUT, "--allow-read", join(SRC, "scenarios")],
  env: { ...process.env },
  cwd: TMP,
  stderr: "inherit",
});
const client = new Client({ name: "agora-sdk-test", version: "1.0.0" });
// Errors the SDK reports outside a call. One kind is expected: the SDK dispatches a response at once but defers
// notifications to a microtask, so progress that arrives in the same read as the response is reported here as "for
// an unknown token" instead of reaching onprogress (typescript-sdk issue #2580). Those are the server's progress
// notifications all the same, and are counted as such.
const sdkErrors = [];
const LATE = "Received a progress notification for an unknown token: ";
function lateProgress() {
  const late = sdkErrors.filter((e) => String(e?.message).startsWith(LATE));
  sdkErrors.splice(0, sdkErrors.length, ...sdkErrors.filter((e) => !late.includes(e)));
  return late.map((e) => JSON.parse(e.message.slice(LATE.length)));
}

// tools/call through the SDK; the structuredContent of a successful call, after checking that content[0] is its
// JSON text. A result with isError fails the test with its message.
async function call(name, args, options) {
  const res = await client.callTool({ name, arguments: args }, undefined, options);
  if (res.isError) fail(`${name} ${show(args)} failed: ${res.content?.[0]?.text}`);
  const sc = res.structuredContent;
  check(sc && typeof sc === "object", `${name}: no structuredContent: ${show(res)}`);
  check(res.content?.[0]?.type === "text", `${name}: content[0] should be text: ${show(res.content)}`);
  check(isDeepStrictEqual(JSON.parse(res.content[0].text), sc), `${name}: content[0].text differs from structuredContent`);
  return sc;
}

// The latest value of every metric of a world, {name: value}.
async function metricsNow(world) {
  const r = await call("get_metrics", { world, last: 1 });
  return Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, v[0]]));
}

async function main() {
  client.onerror = (e) => sdkErrors.push(e);
  await client.connect(transport);
  check(client.getServerVersion()?.name === "agora", `serverInfo: ${show(client.getServerVersion())}`);
  check(client.getServerCapabilities()?.tools, `capabilities: ${show(client.getServerCapabilities())}`);
  check((client.getInstructions() || "").length > 0, "initialize should give instructions");
  await client.ping();

  // tools/list: every tool of the contract, each with an object input schema
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of TOOLS) check(names.includes(n), `tools/list lacks ${n}: ${show(names)}`);
  for (const t of tools) check(t.inputSchema?.type === "object", `${t.name}: inputSchema ${show(t.inputSchema)}`);
  const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"];
  for (const t of tools) {
    const want = ANNOTATIONS[t.name];
    check(want, `no expected annotations for ${t.name}`);
    const got = HINTS.map((h) => t.annotations?.[h]);
    check(isDeepStrictEqual(got, want), `${t.name}: annotations ${show(t.annotations)}, expected ${HINTS.map((h, i) =>
      `${h}: ${want[i]}`).join(", ")}`);
    check(t.annotations.title === t.title, `${t.name}: annotations.title ${show(t.annotations.title)}`);
  }
  console.log(`ok: tools/list (${names.length} tools, each with its annotations)`);

  // A world from the shipped default scenario, made small by overrides.
  const created = await call("create_world", {
    path: join(SRC, "scenarios", "sir_grid.yaml"),
    set: ["space.width=60", "space.height=60"],
    name: "sdk",
  });
  check(created.world === "sdk" && created.n_agents === 3600 && created.t === 0, `create_world: ${show(created)}`);
  const n = created.n_agents;
  const sirSum = (m) => m.S + m.I + m.R;
  check(sirSum(created.metrics) === n, `S + I + R != ${n}: ${show(created.metrics)}`);

  // Advance with the SDK's onprogress: it sends a progressToken, and the server reports progress before the result.
  const progress = [];
  const adv = await call("advance_world", { world: "sdk", steps: 20 }, { onprogress: (p) => progress.push(p) });
  check(adv.t === 20 && adv.steps_done === 20, `advance_world: t ${adv.t}, steps_done ${adv.steps_done}`);
  check(adv.metrics.I.length === 20, `advance_world: ${adv.metrics.I.length} values of I for 20 steps`);
  for (let i = 0; i < 20; i++) {
    check(adv.metrics.S[i] + adv.metrics.I[i] + adv.metrics.R[i] === n, `S + I + R != ${n} at step ${i + 1}`);
  }
  // The progress the SDK delivered, then any it dropped for arriving with the response (see sdkErrors above): each
  // one a notifications/progress with the SDK's numeric token, in increasing order.
  await new Promise((resolve) => setImmediate(resolve)); // let deferred notification handlers run
  const late = lateProgress();
  for (const note of late) {
    check(note.method === "notifications/progress" && typeof note.params?.progressToken === "number",
      `a late notification that is not progress with the SDK's token: ${show(note)}`);
  }
  const seen = [...progress, ...late.map((note) => note.params)];
  check(seen.length >= 1, "advance_world with onprogress: no progress notification");
  for (let i = 1; i < seen.length; i++) {
    check(seen[i].progress > seen[i - 1].progress, `progress should increase: ${show(seen)}`);
  }
  check(sdkErrors.length === 0, `the SDK reported errors: ${sdkErrors.map(String).join("; ")}`);
  console.log(`ok: create_world from scenarios/sir_grid.yaml, advance_world (${progress.length} progress notes ` +
    `delivered, ${late.length} with the response)`);

  // Snapshot, then change the world every way a client can: an action, agent state, more steps.
  const snap = await call("snapshot_world", { world: "sdk", label: "before" });
  check(snap.snapshot === "s1" && snap.t === 20, `snapshot_world: ${show(snap)}`);
  const atSnap = await metricsNow("sdk");
  const historyAtSnap = await call("get_metrics", { world: "sdk" });
  const stateAtSnap = await call("get_agent_state", { world: "sdk", range: { start: 0, stop: n } });

  const act = await call("apply_action", { world: "sdk", action: { action: "vaccinate", fraction: 0.5 } });
  check(act.applied === true && act.metrics.vaccinated > 0, `apply_action vaccinate: ${show(act)}`);
  const set = await call("set_agent_state", {
    world: "sdk", region: { x0: 0, y0: 0, x1: 60, y1: 10 }, field: "state", value: 1,
  });
  check(set.changed === 600, `set_agent_state: ${show(set)}`);
  check(sirSum(set.metrics) === n, `S + I + R != ${n} after set_agent_state: ${show(set.metrics)}`);
  await call("advance_world", { world: "sdk", steps: 5 });
  const changed = await metricsNow("sdk");
  check(changed.vaccinated > 0 && changed.I !== atSnap.I && changed.R !== atSnap.R,
    `the metrics should have moved: ${show(atSnap)} -> ${show(changed)}`);

  // Restore: exactly the snapshot's metrics, history and agents.
  const rs = await call("restore_world", { world: "sdk", snapshot: "s1" });
  check(rs.t === 20, `restore_world: ${show(rs)}`);
  const back = await metricsNow("sdk");
  check(isDeepStrictEqual(back, atSnap), `after restore: ${show(back)}\n  snapshot had: ${show(atSnap)}`);
  check(isDeepStrictEqual(rs.metrics, atSnap), `restore_world's metrics: ${show(rs.metrics)}`);
  check(isDeepStrictEqual(await call("get_metrics", { world: "sdk" }), historyAtSnap), "history differs after restore");
  const stateBack = await call("get_agent_state", { world: "sdk", range: { start: 0, stop: n } });
  check(isDeepStrictEqual(stateBack.fields, stateAtSnap.fields), "agent state differs after restore");
  console.log("ok: snapshot, change (apply_action, set_agent_state, advance), restore to the snapshot exactly");

  // Failures the SDK's way: a tool failure is a result with isError, bad arguments a thrown McpError -32602.
  const bad = await client.callTool({ name: "advance_world", arguments: { world: "nosuch", steps: 1 } });
  check(bad.isError === true && /nosuch/.test(bad.content?.[0]?.text), `unknown world: ${show(bad)}`);
  let thrown = null;
  try {
    await client.callTool({ name: "advance_world", arguments: { world: "sdk", steps: "ten" } });
  } catch (e) {
    thrown = e;
  }
  check(thrown instanceof McpError && thrown.code === -32602, `steps "ten" should be -32602, got ${thrown}`);
  const lw = await call("list_worlds", {});
  check(lw.worlds.length === 1 && lw.worlds[0].snapshots.length === 1, `list_worlds: ${show(lw)}`);
  check((await call("delete_world", { world: "sdk" })).deleted === "sdk", "delete_world");
  console.log("ok: isError and -32602 through the SDK, list_worlds, delete_world");

  // simulate_mechanics on a shipped scenario, and its HDF5 file read back with h5py.
  const sim = await call("simulate_mechanics", {
    path: join(SRC, "scenarios", "sir_grid.yaml"),
    set: ["space.width=80", "space.height=50"],
    steps: 25,
    output: "sdk_sim.h5",
  });
  const h5 = join(realpathSync(OUT), "sdk_sim.h5");
  check(sim.path === h5 && sim.status === "complete" && sim.steps === 25 && sim.n_agents === 4000,
    `simulate_mechanics: ${show({ ...sim, series: undefined })}`);
  check(sirSum(sim.final) === 4000, `S + I + R != 4000: ${show(sim.final)}`);
  const py = spawnSync(PY, ["-c", `
import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
status = f.attrs["status"]
print(json.dumps({"status": status.decode() if isinstance(status, bytes) else str(status),
                  "rows": int(f["time"].shape[0]), "last_t": int(f["time"][-1]),
                  "final": {k: float(f["metrics"][k][-1]) for k in f["metrics"] if k != "time"}}))
`, h5], { encoding: "utf8" });
  check(py.status === 0, `h5py could not read ${h5}:\n${py.stderr}`);
  const file = JSON.parse(py.stdout);
  check(file.status === "complete" && file.rows === 26 && file.last_t === 25, `the file: ${show(file)}`);
  for (const [k, v] of Object.entries(sim.final)) {
    check(file.final[k] === v, `final ${k}: the tool says ${v}, the file ${file.final[k]}`);
  }
  check(Object.keys(file.final).length === Object.keys(sim.final).length,
    `metrics in the file ${show(Object.keys(file.final))} vs the result ${show(Object.keys(sim.final))}`);
  console.log(`ok: simulate_mechanics wrote ${h5}; h5py reads the same final values`);

  // The server's places: a run file named outside --output-dir is a refused argument (-32602), a scenario outside
  // --allow-read a tool failure; neither writes nor reads anything.
  const outside = join(TMP, "outside.h5");
  thrown = null;
  try {
    await client.callTool({ name: "simulate_mechanics", arguments: { path: join(SRC, "scenarios", "sir_grid.yaml"),
      set: ["space.width=10", "space.height=10"], steps: 1, output: outside } });
  } catch (e) {
    thrown = e;
  }
  check(thrown instanceof McpError && thrown.code === -32602 && /output/.test(thrown.message),
    `output ${outside} should be refused with -32602, got ${thrown}`);
  check(!existsSync(outside), `${outside} was written`);
  const far = await client.callTool({ name: "create_world", arguments: { path: join(here, "package.json") } });
  check(far.isError === true && /--allow-read/.test(far.content?.[0]?.text) && !/modelcontextprotocol/.test(far.content?.[0]?.text),
    `a scenario outside --allow-read: ${show(far)}`);
  console.log("ok: a run file outside --output-dir and a scenario outside --allow-read are refused");

  // A model definition: validate_model's answer for a wrong one is a result the SDK checks against the tool's
  // outputSchema (isError false, ok false, the error's key path and suggestion), and the fixed one runs as a world.
  const def = { name: "sdk_flip", vars: { on: "bool" }, rules: { on: "not onn" }, metrics: { on_frac: "pop_mean(on)" } };
  const v = await call("validate_model", { definition: def });
  check(v.ok === false && v.errors?.length === 1 && v.errors[0].path === "rules.on" && /did you mean "on"/.test(v.errors[0].message),
    `validate_model of a typo: ${show(v)}`);
  def.rules.on = "not on";
  check((await call("validate_model", { definition: def })).ok === true, "validate_model of the fixed definition");
  const fw = await call("create_world", { model: def, space: { kind: "grid", width: 4, height: 4 }, name: "flip" });
  check(fw.model === "sdk_flip" && fw.metrics.on_frac === 0, `create_world with a definition: ${show(fw)}`);
  const fa = await call("advance_world", { world: "flip", steps: 1 });
  check(fa.final.on_frac === 1, `the defined rule flips every agent: ${show(fa)}`);
  console.log("ok: validate_model through the SDK, and a world of the model it checked");

  await client.close();
}

try {
  await main();
} catch (e) {
  try {
    await client.close();
  } catch {
    // the server may be gone already
  }
  fail(e?.stack || String(e));
}
console.log("mcp_sdk: all checks passed");
