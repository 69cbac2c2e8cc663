// A web page on another origin cannot use `lamina serve` (issue 21), shown in
// headless chromium: a page served from a second local HTTP origin tries
// fetch (with and without a preflight), a no-cors fetch and a plain HTML form
// post against the server, and a DNS-rebinding-shaped name that resolves to
// 127.0.0.1 tries to load the server itself. None of them generates a token
// or reads an answer. The same page, on a server started with
// --cors-origin naming its origin, does get answers (so the refusals are the
// server's, not the page's).
//   node cross_origin.js LAMINA TEST_DATA OUT_DIR CHROMIUM
"use strict";
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const [lamina, data, outDir, chromiumPath] = process.argv.slice(2);
let passed = 0;
function ok(what) {
  passed++;
  console.log("ok - " + what);
}

async function startServer(extra = []) {
  const args = ["serve", path.join(data, "models/kjv1m.bin"), "-z",
    path.join(data, "models/tok1024-kjv.bin"), "--port", "0", "--parallel", "1", "--threads", "1",
    ...extra];
  const proc = spawn(lamina, args, { stdio: ["ignore", "inherit", "pipe"] });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("lamina serve did not start:\n" + log)), 30000);
    proc.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/listening on http:\/\/[^/]+:(\d+)\//);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    proc.on("exit", (c) => reject(new Error(`lamina serve exited ${c}:\n${log}`)));
  });
  return { proc, port, origin: `http://127.0.0.1:${port}`, log: () => log };
}

async function generated(server) {
  const text = await (await fetch(server.origin + "/metrics")).text();
  const m = text.match(/^lamina_generated_tokens_total (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

// The other origin: a page whose script tries the server and reports back.
function attackPage(target) {
  const body = JSON.stringify({ prompt: "And it came to pass", max_tokens: 8, seed: 1 });
  return `<!doctype html><meta charset="utf-8"><title>another origin</title>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" action="${target}/v1/completions" enctype="text/plain" target="sink">
<input type="hidden" name='{"prompt":"And it came to pass","max_tokens":8,"x":"' value='"}'>
</form>
<script>
const T = ${JSON.stringify(target)}, BODY = ${JSON.stringify(body)};
async function attempt(name, f) {
  try { const r = await f(); return { name, status: r.status, type: r.type, text: r.type === "opaque" ? "" : await r.text() }; }
  catch (e) { return { name, error: String(e) }; }
}
window.run = async () => [
  await attempt("GET /v1/models", () => fetch(T + "/v1/models")),
  await attempt("POST json (preflight)", () => fetch(T + "/v1/completions",
    { method: "POST", headers: { "Content-Type": "application/json" }, body: BODY })),
  await attempt("POST text/plain (simple)", () => fetch(T + "/v1/completions",
    { method: "POST", headers: { "Content-Type": "text/plain" }, body: BODY })),
  await attempt("POST no-cors", () => fetch(T + "/v1/completions",
    { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: BODY })),
];
window.post = () => new Promise((resolve) => {
  document.getElementById("sink").onload = () => resolve(true);
  document.getElementById("form").submit();
});
</script>`;
}

async function main() {
  const server = await startServer();
  const pages = http.createServer((req, res) => {
    const target = new URL(req.url, "http://x").searchParams.get("target");
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(attackPage(target));
  });
  await new Promise((r) => pages.listen(0, "127.0.0.1", r));
  const other = `http://127.0.0.1:${pages.address().port}`;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "lamina-chromium-"));
  let ctx, allowed;
  try {
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: chromiumPath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        // DNS rebinding, as the browser sees it: a name of the attacker's that
        // now resolves to this machine.
        "--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    });
    const page = ctx.pages()[0] || (await ctx.newPage());

    // The page on another origin, against a server with no --cors-origin.
    await page.goto(`${other}/?target=${encodeURIComponent(server.origin)}`);
    const results = await page.evaluate(() => window.run());
    for (const r of results) {
      if (r.name === "POST no-cors") {
        assert.equal(r.type, "opaque", JSON.stringify(r)); // the page learns nothing of the answer
        continue;
      }
      assert.ok(r.error && /TypeError|Failed to fetch/.test(r.error), `${r.name}: ${JSON.stringify(r)}`);
    }
    ok("another origin: fetch of /v1/models and POSTs (with and without a preflight) fail in the page: " +
      results.map((r) => `${r.name}: ${r.error ?? r.type}`).join("; "));
    await page.evaluate(() => window.post());
    ok("another origin: a plain HTML form posted to /v1/completions");
    // the form's POST may reach the server's log after the page returns:
    // wait for the requests the page sent (the count is asserted below)
    const countPosts = () => server.log().split("\n").filter((l) => l.includes('"POST /v1/completions"')).length;
    for (let i = 0; i < 300 && countPosts() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    const log = server.log();
    const posts = log.split("\n").filter((l) => l.includes('"POST /v1/completions"'));
    const preflights = log.split("\n").filter((l) => l.includes('"OPTIONS /v1/completions"'));
    assert.ok(posts.length >= 3 && posts.every((l) => / 403 /.test(l)), posts.join("\n"));
    assert.ok(preflights.length >= 1 && preflights.every((l) => / 403 /.test(l)), preflights.join("\n"));
    assert.equal(await generated(server), 0, "tokens were generated for another origin");
    ok(`the server answered all of them 403 (${posts.length} POSTs, ${preflights.length} preflight) ` +
      "and generated nothing");

    // DNS rebinding: rebind.test resolves to 127.0.0.1, so a page of its own
    // would be same-origin with the server; the server refuses the Host.
    const rebound = `http://rebind.test:${server.port}`;
    const resp = await page.goto(rebound + "/");
    assert.equal(resp.status(), 403);
    const inPage = await page.evaluate(async () => {
      const r = await fetch("/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "And", max_tokens: 4 }) });
      const m = await fetch("/v1/models");
      return [r.status, m.status];
    });
    assert.deepEqual(inPage, [403, 403]);
    assert.equal(await generated(server), 0);
    ok(`DNS rebinding (${rebound}): the chat page, /v1/models and a POST all get 403, nothing generated`);
    await page.screenshot({ path: path.join(outDir, "cross_origin_rebind.png") });

    // The control: the same page against a server that lists its origin.
    allowed = await startServer(["--cors-origin", other]);
    await page.goto(`${other}/?target=${encodeURIComponent(allowed.origin)}`);
    const yes = await page.evaluate(() => window.run());
    const byName = Object.fromEntries(yes.map((r) => [r.name, r]));
    assert.equal(byName["GET /v1/models"].status, 200, JSON.stringify(byName["GET /v1/models"]));
    assert.equal(byName["POST json (preflight)"].status, 200, JSON.stringify(byName["POST json (preflight)"]));
    assert.ok(JSON.parse(byName["POST json (preflight)"].text).choices[0].text.length > 0);
    assert.equal(byName["POST text/plain (simple)"].status, 415, JSON.stringify(byName["POST text/plain (simple)"]));
    ok("--cors-origin naming that origin: the page reads /v1/models and a completion (200); " +
      "its text/plain POST gets 415");
  } catch (e) {
    console.error("lamina serve's log:\n" + server.log() + (allowed ? "\nwith --cors-origin:\n" + allowed.log() : ""));
    throw e;
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(userDir, { recursive: true, force: true });
    pages.close();
    server.proc.kill("SIGTERM");
    if (allowed) allowed.proc.kill("SIGTERM");
  }
  for (const s of [server, allowed].filter(Boolean)) {
    const code = s.proc.exitCode ?? (await new Promise((r) => s.proc.once("exit", r)));
    assert.equal(code, 0, "lamina serve's exit status after SIGTERM:\n" + s.log());
    assert.doesNotMatch(s.log(), /runtime error|AddressSanitizer|LeakSanitizer/);
  }
  ok("both servers exit 0 on SIGTERM with no sanitizer report");
  console.log(`${passed} passed, 0 failed`);
}

const watchdog = setTimeout(() => {
  console.error("FAIL: the cross-origin test ran over 120 s");
  process.exit(1);
}, 120000);
main().then(() => clearTimeout(watchdog), (e) => {
  console.error("FAIL: " + (e.stack || e));
  process.exit(1);
});
