// Drives netsim through every call toxiproxy-node-client 4.1.0 offers (a Toxiproxy client
// no one here wrote), checking each answer and, where a call changes the link, its effect.
// Run by tests/netsim/test_clients.py:
//   node node_client_check.mjs <dir with node_modules> <api url> <echo upstream host:port>
// Prints "node client: N calls checked" and exits 0, or prints the failure and exits 1.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";

const [clientDir, apiUrl, upstream] = process.argv.slice(2);
const require = createRequire(path.join(clientDir, "package.json"));
const { Toxiproxy, ToxiproxyError, Proxy, Toxic } = require("toxiproxy-node-client");
const helper = require("toxiproxy-node-client/dist/TestHelper.js");

const checked = new Set();
const check = (...names) => names.forEach((name) => checked.add(name));

function parse(address) {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

// Send a line through the proxy and wait for the echo; resolves to the round trip in ms.
function echo(address, line = "ping\n") {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(parse(address), () => socket.write(line));
    let got = "";
    socket.setTimeout(10000, () => socket.destroy(new Error("echo timed out")));
    socket.on("data", (data) => {
      got += data.toString();
      if (got === line) {
        socket.end();
        resolve(Date.now() - started);
      }
    });
    socket.on("error", reject);
  });
}

function refused(address) {
  return new Promise((resolve) => {
    const socket = net.connect(parse(address));
    socket.on("connect", () => { socket.destroy(); resolve(false); });
    socket.on("error", (error) => resolve(error.code === "ECONNREFUSED"));
  });
}

async function rejectsWith(promise, status) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ToxiproxyError, `expected ToxiproxyError, got ${error}`);
    assert.match(error.message, new RegExp(`status code ${status}`));
    return true;
  });
}

const toxiproxy = new Toxiproxy(apiUrl);

const version = JSON.parse(await toxiproxy.getVersion());
assert.ok(version.version, "version");
check("Toxiproxy.getVersion");

assert.ok(toxiproxy.getApi(), "getApi");
check("Toxiproxy.getApi");

const proxy = await toxiproxy.createProxy({ name: "node", listen: "127.0.0.1:0", upstream });
assert.ok(proxy instanceof Proxy);
assert.equal(proxy.name, "node");
assert.equal(proxy.upstream, upstream);
assert.notEqual(parse(proxy.listen).port, 0, "the bound port is shown");
assert.equal(proxy.enabled, true);
assert.deepEqual(proxy.toJson(), { enabled: true, listen: proxy.listen, name: "node", upstream });
assert.equal(proxy.getToxiproxy(), toxiproxy);
assert.equal(proxy.getHost(), apiUrl);
assert.equal(proxy.getPath(), `${apiUrl}/proxies/node`);
await echo(proxy.listen);
check("Toxiproxy.createProxy", "Proxy.toJson", "Proxy.getToxiproxy", "Proxy.getHost",
  "Proxy.getPath");

await rejectsWith(toxiproxy.createProxy({ name: "node", listen: "127.0.0.1:0", upstream }), 409);

const all = await toxiproxy.getAll();
assert.deepEqual(Object.keys(all), ["node"]);
assert.equal(all.node.listen, proxy.listen);
check("Toxiproxy.getAll");

const same = await toxiproxy.get("node");
assert.equal(same.listen, proxy.listen);
check("Toxiproxy.get");
await rejectsWith(toxiproxy.get("missing"), 404);

const baseline = Math.min(await echo(proxy.listen), await echo(proxy.listen));
const toxic = await proxy.addToxic({
  name: "slow", type: "latency", stream: "downstream", toxicity: 1,
  attributes: { latency: 150, jitter: 0 },
});
assert.ok(toxic instanceof Toxic);
assert.deepEqual(toxic.toJson(), {
  attributes: { latency: 150, jitter: 0 }, name: "slow", stream: "downstream", toxicity: 1,
  type: "latency",
});
assert.equal(toxic.getPath(), `${apiUrl}/proxies/node/toxics/slow`);
assert.ok(await echo(proxy.listen) >= 150, "the latency toxic delays the answer");
check("Proxy.addToxic", "Toxic.toJson", "Toxic.getPath");
await rejectsWith(proxy.addToxic({ type: "nonsense" }), 400);

const fetched = await proxy.getToxic("slow");
assert.equal(fetched.attributes.latency, 150);
check("Proxy.getToxic");
await rejectsWith(proxy.getToxic("missing"), 404);

const updated = await fetched.update({ attributes: { latency: 300 } });
assert.equal(updated.attributes.latency, 300);
assert.equal(updated.toxicity, 1);
assert.ok(await echo(proxy.listen) >= 300, "the update applies");
check("Toxic.update");

await updated.remove();
assert.ok(await echo(proxy.listen) < baseline + 100, "removed: no more latency");
await rejectsWith(proxy.getToxic("slow"), 404);
check("Toxic.remove");

const disabled = await proxy.update({ enabled: false });
assert.equal(disabled.enabled, false);
assert.ok(await refused(proxy.listen), "a disabled proxy refuses connections");
const enabled = await proxy.update({ enabled: true });
assert.equal(enabled.enabled, true);
await echo(enabled.listen);
check("Proxy.update");

const populated = await toxiproxy.populate([
  { name: "pop", listen: "127.0.0.1:0", upstream, enabled: true },
]);
assert.deepEqual(Object.keys(populated), ["pop"]);
await echo(populated.pop.listen);
check("Toxiproxy.populate");

await enabled.addToxic({ type: "timeout", attributes: { timeout: 0 } });
await enabled.update({ enabled: false });
await toxiproxy.reset();
const afterReset = await toxiproxy.get("node");
assert.equal(afterReset.enabled, true);
await rejectsWith(afterReset.getToxic("timeout_downstream"), 404);
await echo(afterReset.listen);
check("Toxiproxy.reset");

await populated.pop.remove();
assert.deepEqual(Object.keys(await toxiproxy.getAll()), ["node"]);
await rejectsWith(populated.pop.remove(), 404);
check("Proxy.remove");

// TestHelper: its URL is a module variable (default localhost:8474); point it at this API.
helper.toxiproxyUrl = apiUrl;
const made = await helper.createProxy("helper");
assert.equal(made.proxy.upstream, "localhost:6379");
assert.match(made.proxy.listen, /^127\.0\.0\.1:\d+$/);
check("TestHelper.createProxy");
const helped = await helper.createToxic(made.proxy, "latency", { latency: 5 });
assert.equal(helped.attributes.latency, 5);
check("TestHelper.createToxic");
await helper.removeAllProxies();
assert.deepEqual(await toxiproxy.getAll(), {});
check("TestHelper.removeAllProxies");

// Every call the package offers: the classes' methods and the helper's functions.
const offered = [
  ...[["Toxiproxy", Toxiproxy], ["Proxy", Proxy], ["Toxic", Toxic]].flatMap(([name, cls]) =>
    Object.getOwnPropertyNames(cls.prototype)
      .filter((method) => method !== "constructor")
      .map((method) => `${name}.${method}`)),
  ...Object.keys(helper).filter((key) => typeof helper[key] === "function")
    .map((key) => `TestHelper.${key}`),
];
const missing = offered.filter((call) => !checked.has(call));
assert.deepEqual(missing, [], `calls offered but not checked: ${missing}`);
console.log(`node client: all ${offered.length} calls checked: ${[...checked].join(", ")}`);
