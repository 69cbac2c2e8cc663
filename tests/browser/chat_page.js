// The chat page of `lamina serve` (src/serve/page/index.html) driven in
// headless chromium against the real server on the demo model:
//   node chat_page.js LAMINA TEST_DATA OUT_DIR CHROMIUM
// Each check prints "ok - ..." or throws; screenshots go to OUT_DIR.
"use strict";
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const [lamina, data, outDir, chromiumPath] = process.argv.slice(2);
const KEY = "page-test-key";
const STEP_MS = 20; // the server pauses this long after each step
let passed = 0;
function ok(what) {
  passed++;
  console.log("ok - " + what);
}

// A port that was free a moment ago (the server is told it explicitly).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const args = ["serve", path.join(data, "models/kjv1m.bin"), "-z",
    path.join(data, "models/tok1024-kjv.bin"), "--host", "127.0.0.1", "--port", String(port),
    "--parallel", "1", "--queue", "0", "--threads", "1", "--api-key", KEY];
  // One slot, no queue, and (a test hook of the server) 20 ms after each
  // step: a reply streams for long enough to be stopped mid-way, a request
  // beside a running one gets 503, and a slot not freed by a stop would
  // refuse the next message.
  const env = { ...process.env, LAMINA_SERVE_TEST_STEP_MS: String(STEP_MS) };
  const proc = spawn(lamina, args, { env, stdio: ["ignore", "inherit", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`lamina serve exited ${proc.exitCode}:\n${log}`);
    try {
      if ((await fetch(origin + "/health")).ok) return { proc, origin, log: () => log };
    } catch (e) { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("lamina serve did not answer /health within 20 s:\n" + log);
}

async function api(origin, route, body, key = KEY) {
  const res = await fetch(origin + route, {
    method: body ? "POST" : "GET",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

// A number of /metrics (Prometheus text), e.g. lamina_active_sequences.
async function metric(origin, name) {
  const text = await (await fetch(origin + "/metrics")).text();
  const m = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, "/metrics has no " + name);
  return Number(m[1]);
}
const activeSequences = (origin) => metric(origin, "lamina_active_sequences");

async function waitIdle(origin, ms) {
  for (const t0 = Date.now(); (await activeSequences(origin)) !== 0;) {
    assert.ok(Date.now() - t0 < ms, `a sequence still runs after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitBusy(origin) {
  for (const t0 = Date.now(); (await activeSequences(origin)) === 0;) {
    assert.ok(Date.now() - t0 < 5000, "the request did not start within 5 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Types a message and presses Enter; returns the request body the page sent.
async function sendMessage(page, text) {
  const req = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  return JSON.parse((await req).postData());
}

const lastAssistant = "#log li.assistant:last-child";

async function waitDone(page) {
  await page.waitForSelector(lastAssistant + "[data-done]", { state: "attached", timeout: 30000 });
  return page.textContent(lastAssistant + " .text");
}

async function run(page, origin) {
  const models = (await api(origin, "/v1/models")).json;
  const model = models.data[0];

  // Without a key the page shows the server's 401 for /v1/models.
  await page.goto(origin + "/");
  await page.waitForFunction(() => document.getElementById("error").textContent !== "");
  const noKey = (await api(origin, "/v1/models", null, "")).json.error.message;
  assert.match(await page.textContent("#error"), /^Error 401: /);
  assert.ok((await page.textContent("#error")).includes(noKey));
  ok("no key: the server's 401 message is shown: " + (await page.textContent("#error")));

  // Every control has a label; buttons say what they do.
  const unlabeled = await page.$$eval("input, textarea, select", (els) =>
    els.filter((e) => e.labels.length === 0 && !e.getAttribute("aria-label")).map((e) => e.id));
  assert.deepEqual(unlabeled, []);
  const blank = await page.$$eval("button", (els) => els.filter((b) => !b.textContent.trim()).length);
  assert.equal(blank, 0);
  ok("every control has a label");

  // A wrong key: the chat request's 401 and its message are shown, the
  // message is offered again and no turn is added.
  await page.fill("#api_key", "wrong-key");
  await page.dispatchEvent("#api_key", "change");
  await sendMessage(page, "hello");
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("401"));
  const wrong = (await api(origin, "/v1/chat/completions",
    { messages: [{ role: "user", content: "hello" }] }, "wrong-key"));
  assert.equal(wrong.status, 401);
  assert.ok((await page.textContent("#error")).includes(wrong.json.error.message));
  assert.equal(await page.inputValue("#input"), "hello");
  assert.equal(await page.locator("#log li").count(), 0);
  ok("wrong key: 401 shown: " + (await page.textContent("#error")));

  // The right key: kept in sessionStorage only; the footer and defaults fill in.
  await page.fill("#api_key", KEY);
  await page.dispatchEvent("#api_key", "change");
  await page.waitForFunction((id) => document.getElementById("model-info").textContent.includes(id),
    model.id);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("lamina_api_key")), KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.textContent("#error"), "");
  const footer = await page.textContent("footer");
  for (const v of [model.id, model.format, model.kernels])
    assert.ok(footer.replace(/\u00a0/g, " ").includes(String(v)), `footer lacks ${v}: ${footer}`);
  ok("key in sessionStorage only; footer: " + footer.trim());
  // The server's defaults: temperature and top-p always; max_tokens and a
  // seed where it has one (seed 0 means a fresh seed per request: box empty).
  const dflt = (name) => model[name] ?? model.defaults?.[name];
  for (const name of ["temperature", "top_p", "max_tokens", "seed"]) {
    const v = dflt(name);
    if (name === "temperature" || name === "top_p")
      assert.ok(typeof v === "number", `/v1/models has no default ${name}`);
    const want = typeof v === "number" && (name !== "seed" || v !== 0) ? v : "";
    const got = await page.inputValue("#" + name);
    assert.equal(got === "" ? "" : Number(got), want, name);
  }
  ok(`controls start at the server's defaults: ${JSON.stringify(model.defaults ?? {})}`);

  // Shift+Enter makes a new line and does not send.
  await page.fill("#input", "");
  await page.type("#input", "one");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("two");
  assert.equal(await page.inputValue("#input"), "one\ntwo");
  assert.equal(await page.locator("#log li").count(), 0);
  ok("Shift+Enter adds a new line without sending");

  // A seeded message: the streamed reply equals the API's non-streamed text
  // for the same request body.
  await page.fill("#system", "You are <b>x</b> a helpful assistant.");
  await page.fill("#temperature", "0.8");
  await page.fill("#top_p", "0.9");
  await page.fill("#seed", "42");
  await page.fill("#max_tokens", "48");
  const body = await sendMessage(page, "And it came to pass <b>x</b>");
  assert.equal(body.stream, true);
  assert.equal(body.seed, 42);
  assert.equal(body.temperature, 0.8);
  assert.equal(body.max_tokens, 48);
  assert.deepEqual(body.messages, [
    { role: "system", content: "You are <b>x</b> a helpful assistant." },
    { role: "user", content: "And it came to pass <b>x</b>" }]);
  const streamed = await waitDone(page);
  const solo = await api(origin, "/v1/chat/completions", { ...body, stream: false, stream_options: undefined });
  assert.equal(solo.status, 200);
  assert.ok(streamed.length > 0);
  assert.equal(streamed, solo.json.choices[0].message.content);
  // Token by token: each delta is its own text node.
  const pieces = await page.$eval(lastAssistant + " .text", (e) => e.childNodes.length);
  assert.ok(pieces > 1, `the reply arrived in ${pieces} piece(s)`);
  // The footer ends with the server's token count (usage of the last chunk).
  assert.match(await page.textContent("#speed"),
    new RegExp(`^${solo.json.usage.completion_tokens} tokens( · \\d+\\.\\d tok/s)?$`));
  assert.equal(body.stream_options?.include_usage, true);
  ok(`streamed reply (${pieces} pieces) equals the API's for seed 42: ${JSON.stringify(streamed)}; ` +
    `footer: ${await page.textContent("#speed")}`);

  // Rendering, part 1 (the real server): the system prompt and the user
  // message, both containing <b>x</b>, are shown as those characters in the
  // conversation view, and the view holds no <b> element.
  const log = await page.textContent("#log");
  assert.ok(log.includes("You are <b>x</b> a helpful assistant."));
  assert.ok(log.includes("And it came to pass <b>x</b>"));
  assert.equal(await page.locator("#log b").count(), 0);
  ok("system prompt and user message with <b>x</b> are shown literally");

  // Rendering, part 2 (the assistant's path): the demo model cannot be made
  // to print markup, so this one request is answered by the browser itself
  // (page.route) with server-sent events whose deltas hold <b>x</b> and a
  // <script>; the page's stream reader and renderer are the ones under test.
  const canned = ["Hi <b>x</b>", " <script>window.pwned=1</script>", " <img src=x onerror=alert(1)>"];
  await page.route("**/v1/chat/completions", (route) => route.fulfill({
    status: 200,
    headers: { "Content-Type": "text/event-stream" },
    body: canned.map((c) => "data: " + JSON.stringify({ choices: [{ index: 0, delta: { content: c } }] })
      + "\n\n").join("") + "data: [DONE]\n\n",
  }));
  await sendMessage(page, "markup please");
  assert.equal(await waitDone(page), canned.join(""));
  await page.unroute("**/v1/chat/completions");
  assert.equal(await page.locator("#log b, #log script, #log img").count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  ok("assistant deltas with <b>x</b>, <script>, <img onerror> are shown as text");

  await page.screenshot({ path: path.join(outDir, "chat_page_markup.png") });
  ok("screenshot " + path.join(outDir, "chat_page_markup.png"));

  // Stop mid-stream (Escape): the partial reply is a proper prefix of the
  // full one; the server's sequence ends before it would have finished on its
  // own, and the next message is answered, not refused with 503.
  await page.click("#clear");
  await page.fill("#max_tokens", "200");
  const generated0 = await metric(origin, "lamina_generated_tokens_total");
  const long = await sendMessage(page, "Tell me of the kings of Israel");
  await page.waitForFunction(() => {
    const li = [...document.querySelectorAll("#log li.assistant")].pop();
    return li && li.querySelector(".text").textContent.length > 0;
  });
  assert.equal(await page.isEnabled("#stop"), true);
  assert.equal(await page.isEnabled("#send"), false);
  await page.keyboard.press("Escape");
  const partial = await waitDone(page);
  assert.equal(await page.textContent(lastAssistant + " .note"), "stopped");
  await waitIdle(origin, 5000);
  const generated = (await metric(origin, "lamina_generated_tokens_total")) - generated0;
  const solo2 = (await api(origin, "/v1/chat/completions",
    { ...long, stream: false, stream_options: undefined })).json;
  const full = solo2.choices[0].message.content;
  assert.ok(full.startsWith(partial) && partial.length < full.length,
    `stopped reply ${JSON.stringify(partial)} is not a proper prefix of ${JSON.stringify(full)}`);
  ok(`the stopped reply is the first ${partial.length} of ${full.length} characters of the API's`);
  // Counted, not timed: the stopped sequence generated fewer tokens than the
  // whole reply has (the server pauses STEP_MS per step, so a stop reaches it
  // mid-way).
  assert.ok(generated < solo2.usage.completion_tokens,
    `the stopped sequence generated ${generated} of ${solo2.usage.completion_tokens} tokens`);
  ok(`the server stopped the sequence after ${generated} of ${solo2.usage.completion_tokens} tokens`);
  const next = await sendMessage(page, "And then?");
  // The stopped turn stays in the conversation, as far as it got.
  assert.deepEqual(next.messages.slice(-3), [{ role: "user", content: "Tell me of the kings of Israel" },
    { role: "assistant", content: partial }, { role: "user", content: "And then?" }]);
  const answer = await waitDone(page);
  assert.ok(answer.length > 0);
  assert.equal(await page.textContent("#error"), "");
  ok("the next message is answered after a stop: " + JSON.stringify(answer));

  // A full server (503): while an API request holds the one slot, the page's
  // message is refused and the server's message and Retry-After are shown.
  await waitIdle(origin, 5000);
  const busy = api(origin, "/v1/completions", { prompt: "And", max_tokens: 150, seed: 3 });
  await waitBusy(origin);
  const refused = await api(origin, "/v1/completions", { prompt: "And", max_tokens: 5 });
  assert.equal(refused.status, 503);
  await sendMessage(page, "Are you there?");
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("503"));
  const shown503 = await page.textContent("#error");
  assert.ok(shown503.includes(refused.json.error.message), shown503);
  assert.match(shown503, /retry after \d+ s/);
  assert.equal((await busy).status, 200);
  ok("503 shown: " + shown503);

  // A request the server refuses (400): its message is shown.
  await page.click("#clear");
  const huge = "And it came to pass ".repeat(400);
  const bad = await sendMessage(page, huge);
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("400"));
  const bad400 = await api(origin, "/v1/chat/completions",
    { ...bad, stream: false, stream_options: undefined });
  assert.equal(bad400.status, 400);
  assert.ok((await page.textContent("#error")).includes(bad400.json.error.message));
  ok("400 shown: " + (await page.textContent("#error")));

  // The picture for the README: a fresh conversation, seeded.
  await page.click("#clear");
  await page.fill("#system", "You are a helpful assistant.");
  await page.fill("#max_tokens", "40");
  await sendMessage(page, "And it came to pass");
  await waitDone(page);
  await sendMessage(page, "What came to pass?");
  await waitDone(page);
  await page.screenshot({ path: path.join(outDir, "chat_page.png") });
  ok("screenshot " + path.join(outDir, "chat_page.png"));

  // 400 px wide, keyboard only: the settings start folded; Tab reaches them,
  // Enter unfolds them, a seed is typed, Shift+Tab comes back to the message
  // box, Enter sends. Nothing scrolls sideways.
  await page.setViewportSize({ width: 400, height: 800 });
  await page.goto(origin + "/");
  await page.waitForFunction((id) => document.getElementById("model-info").textContent.includes(id),
    model.id);
  assert.equal(await page.evaluate(() => document.getElementById("settings").open), false);
  assert.equal(await page.inputValue("#api_key"), KEY); // the tab's session storage, after a reload
  const focused = () => page.evaluate(() => document.activeElement.id ||
    document.activeElement.tagName.toLowerCase());
  const keys = async (key, n = 1) => { for (let i = 0; i < n; i++) await page.keyboard.press(key); };
  assert.equal(await focused(), "input");
  await keys("Tab", 2); // Send, then (Stop is disabled) the settings
  assert.equal(await focused(), "summary");
  await keys("Enter");
  assert.equal(await page.evaluate(() => document.getElementById("settings").open), true);
  await keys("Tab", 4); // system prompt, temperature, top-p, seed
  assert.equal(await focused(), "seed");
  await page.keyboard.type("7");
  await keys("Shift+Tab", 6);
  assert.equal(await focused(), "input");
  const req = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await page.keyboard.type("And it came to pass");
  await keys("Enter");
  assert.equal(JSON.parse((await req).postData()).seed, 7);
  await waitDone(page);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 400));
  // Header, settings, conversation and footer do not overlap, top to bottom.
  const boxes = await page.evaluate(() => ["header", "#settings", "#chat", "footer"].map((sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return { sel, top: r.top, bottom: r.bottom };
  }));
  for (let i = 1; i < boxes.length; i++)
    assert.ok(boxes[i - 1].bottom <= boxes[i].top + 0.5, JSON.stringify(boxes));
  await page.screenshot({ path: path.join(outDir, "chat_page_400px.png"), fullPage: true });
  ok("400 px, keyboard only: seed set and message sent; no sideways scroll; chat_page_400px.png");
}

async function main() {
  const server = await startServer();
  const origin = server.origin;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "lamina-chromium-"));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1000, height: 640 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    const foreign = [], errors = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(origin + "/")) foreign.push(r.url());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await run(page, origin);
    assert.deepEqual(foreign, [], "the page fetched something outside its server");
    assert.deepEqual(errors, [], "JavaScript errors on the page");
    ok("no request left the server's origin; no JavaScript errors");
  } catch (e) {
    console.error("lamina serve's log:\n" + server.log());
    throw e;
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(userDir, { recursive: true, force: true });
    server.proc.kill("SIGTERM");
  }
  // Everything the page did left the server sound: it drains and exits 0,
  // and (in the sanitizer build) reported nothing.
  const code = server.proc.exitCode ?? (await new Promise((r) => server.proc.once("exit", r)));
  assert.equal(code, 0, "lamina serve's exit status after SIGTERM:\n" + server.log());
  assert.doesNotMatch(server.log(), /runtime error|AddressSanitizer|LeakSanitizer/);
  ok("lamina serve exits 0 on SIGTERM with no sanitizer report");
  console.log(`${passed} passed, 0 failed`);
}

const watchdog = setTimeout(() => {
  console.error("FAIL: the browser test ran over 180 s");
  process.exit(1);
}, 180000);
main().then(() => clearTimeout(watchdog), (e) => {
  console.error("FAIL: " + (e.stack || e));
  process.exit(1);
});
