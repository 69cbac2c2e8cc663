// Who may use `lamina serve` and how hostile or odd clients are answered
// (issue 21): Host names (DNS rebinding), Origin and CORS, Content-Type,
// the API key from the environment or a file, a client that half-closes its
// socket, and the smaller HTTP points (lower-case bearer, absolute-form
// targets, transfer codings, stream_options, unknown models, --alias,
// \u0000 and invalid UTF-8 in the model). Raw sockets where the shape of the
// request is the point; nothing here asserts a duration.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check, done, equal, lamina, loadOpenAI, metrics, model, sleep, startServer, tokenizer, waitMetrics } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const MODEL = "kjv1m";
const utf8 = new TextDecoder("utf-8", { fatal: true });

// Parse one HTTP/1.1 response (after any interim 1xx ones) from raw bytes.
function parseResponse(buf) {
    let rest = buf;
    const interim = [];
    for (;;) {
        const end = rest.indexOf("\r\n\r\n");
        if (end < 0) return null;
        const head = rest.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(head[0].split(" ")[1]);
        const headers = {};
        for (const line of head.slice(1)) {
            const i = line.indexOf(":");
            headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
        }
        rest = rest.subarray(end + 4);
        if (status >= 100 && status < 200) { interim.push(status); continue; }
        let body = rest;
        if (headers["transfer-encoding"] === "chunked") {
            const parts = [];
            for (let p = 0; ;) {
                const eol = rest.indexOf("\r\n", p);
                if (eol < 0) break;
                const n = parseInt(rest.subarray(p, eol).toString(), 16);
                if (!(n > 0)) break;
                parts.push(rest.subarray(eol + 2, eol + 2 + n));
                p = eol + 2 + n + 2;
            }
            body = Buffer.concat(parts);
        }
        let text = null, json = null;
        try { text = utf8.decode(body); } catch { /* not UTF-8: text stays null */ }
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        return { status, headers, body, text, json, interim };
    }
}

// Send raw bytes; resolve with the parsed response once the server closes
// (every request here says Connection: close) or after ms. half: shut our
// writing side once the request is out (as `nc -N` does), still reading.
function rawRequest(port, data, { half = false, ms = 15000 } = {}) {
    return new Promise((resolve) => {
        const chunks = [];
        const sock = connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => {
            sock.write(data);
            if (half) sock.end();
        });
        const finish = (why) => {
            clearTimeout(timer);
            sock.destroy();
            resolve({ ...(parseResponse(Buffer.concat(chunks)) ?? { status: 0 }), why });
        };
        const timer = setTimeout(() => finish("timeout"), ms);
        sock.on("data", (d) => chunks.push(d));
        sock.on("end", () => finish("end"));
        sock.on("error", (e) => finish(e.code));
    });
}

// A request as text: method, target, headers (object), body (string or Buffer).
function http(method, target, headers, body) {
    const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
    let head = `${method} ${target} HTTP/1.1\r\n`;
    const all = { Connection: "close", ...headers };
    if (b.length || method === "POST") all["Content-Length"] ??= String(b.length);
    for (const [k, v] of Object.entries(all)) if (v !== null) head += `${k}: ${v}\r\n`;
    return Buffer.concat([Buffer.from(head + "\r\n", "latin1"), b]);
}

const JSON_TYPE = "application/json";
const small = JSON.stringify({ prompt: "And", max_tokens: 2, seed: 1 });

// ---- Host, Origin, Content-Type, OPTIONS, absolute-form targets, Transfer-Encoding ------
{
    const srv = await startServer(["--allow-host", "proxy.example", "--allow-host", "gw.example:8443",
        "--cors-origin", "http://allowed.example:3000"]);
    const P = srv.port;
    const get = (target, headers = {}) => rawRequest(P, http("GET", target, headers));
    const post = (target, headers, body = small) => rawRequest(P, http("POST", target, headers, body));

    for (const host of ["localhost", `localhost:${P}`, `127.0.0.1:${P}`, "127.0.0.1", `[::1]:${P}`, "LocalHost",
                        "proxy.example", `PROXY.example:${P}`, "gw.example:8443"]) {
        const r = await get("/health", { Host: host });
        equal(r.status, 200, `bound to loopback: Host ${host} is answered`);
    }
    for (const host of ["evil.example", `evil.example:${P}`, "127.0.0.1.evil.example", "localhost.evil.example",
                        `localhost:${P}x`, "gw.example:9999", "", "[::1"]) {
        const r = await get("/health", { Host: host });
        check(r.status === 403 && r.json?.error?.code === "host_not_allowed",
              `bound to loopback: Host '${host}' gets 403 host_not_allowed`, `${r.status} ${r.text}`);
    }
    {
        const r = await rawRequest(P, Buffer.from("GET /health HTTP/1.0\r\n\r\n"));
        equal(r.status, 403, "bound to loopback: an HTTP/1.0 request without Host gets 403");
    }
    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1
    // is same-origin with the server as the browser sees it; the Host gives it away.
    {
        const before = (await metrics(srv)).lamina_generated_tokens_total ?? 0;
        const r = await post("/v1/completions", { Host: `evil.example:${P}`, Origin: `http://evil.example:${P}`,
                                                  "Content-Type": JSON_TYPE });
        const m = await get("/v1/models", { Host: `evil.example:${P}` });
        check(r.status === 403 && m.status === 403, "DNS rebinding: POST and GET /v1/models refused (403)",
              `${r.status} ${m.status}`);
        equal((await metrics(srv)).lamina_generated_tokens_total ?? 0, before, "DNS rebinding: nothing was generated");
    }
    const local = { Host: `127.0.0.1:${P}` };
    {
        const r = await post("/v1/completions", { ...local, Origin: "http://evil.example", "Content-Type": JSON_TYPE });
        check(r.status === 403 && r.json?.error?.code === "origin_not_allowed" && !r.headers["access-control-allow-origin"],
              "a page of another origin: POST gets 403 origin_not_allowed, no CORS header", `${r.status} ${r.text}`);
        const g = await get("/v1/models", { ...local, Origin: "http://evil.example" });
        equal(g.status, 403, "a page of another origin: GET /v1/models gets 403");
        const n = await post("/v1/completions", { ...local, Origin: "null", "Content-Type": JSON_TYPE });
        equal(n.status, 403, "Origin: null (a sandboxed page) gets 403");
        const same = await post("/v1/completions", { ...local, Origin: `http://127.0.0.1:${P}`, "Content-Type": JSON_TYPE });
        check(same.status === 200 && same.json?.choices?.length === 1, "the server's own page (same origin) is answered",
              `${same.status} ${same.text}`);
    }
    {
        const origin = "http://allowed.example:3000";
        const g = await get("/v1/models", { ...local, Origin: origin });
        check(g.status === 200 && g.headers["access-control-allow-origin"] === origin && /Origin/.test(g.headers.vary ?? ""),
              "--cors-origin: its GET is answered with Access-Control-Allow-Origin and Vary: Origin",
              JSON.stringify(g.headers));
        const pre = await rawRequest(P, http("OPTIONS", "/v1/chat/completions", { ...local, Origin: origin,
            "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" }));
        check(pre.status === 204 && pre.headers["access-control-allow-origin"] === origin &&
              /POST/.test(pre.headers["access-control-allow-methods"] ?? "") &&
              /content-type/i.test(pre.headers["access-control-allow-headers"] ?? "") &&
              /authorization/i.test(pre.headers["access-control-allow-headers"] ?? ""),
              "--cors-origin: its preflight gets 204 with the methods and headers", JSON.stringify(pre.headers));
        const r = await post("/v1/completions", { ...local, Origin: origin, "Content-Type": JSON_TYPE });
        check(r.status === 200 && r.headers["access-control-allow-origin"] === origin,
              "--cors-origin: its POST is answered with Access-Control-Allow-Origin", `${r.status}`);
        const bad = await rawRequest(P, http("OPTIONS", "/v1/chat/completions", { ...local, Origin: "http://evil.example",
            "Access-Control-Request-Method": "POST" }));
        check(bad.status === 403 && !bad.headers["access-control-allow-origin"], "a preflight from another origin: 403",
              `${bad.status} ${JSON.stringify(bad.headers)}`);
        const plain = await rawRequest(P, http("OPTIONS", "/v1/completions", local));
        check(plain.status === 204 && plain.headers.allow === "POST, OPTIONS", "OPTIONS without Origin: 204 with Allow",
              `${plain.status} ${JSON.stringify(plain.headers)}`);
        const none = await rawRequest(P, http("OPTIONS", "/nowhere", local));
        equal(none.status, 404, "OPTIONS on an unknown path: 404");
    }
    // Content-Type: what a form or a "simple" cross-origin fetch can send is refused.
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                        "multipart/form-data; boundary=x", null, "application/jsonx", "application/json; charset=latin1"]) {
        const r = await post("/v1/completions", { ...local, "Content-Type": type });
        check(r.status === 415 && r.json?.error?.code === "unsupported_media_type",
              `Content-Type ${type ?? "(none)"}: 415`, `${r.status} ${r.text}`);
    }
    for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\""]) {
        const r = await post("/v1/chat/completions", { ...local, "Content-Type": type },
            JSON.stringify({ messages: [{ role: "user", content: "Hi" }], max_tokens: 2 }));
        equal(r.status, 200, `Content-Type ${type}: answered`);
    }
    // An absolute-form target is routed by its path; its authority is the Host.
    {
        const r = await get(`http://localhost:${P}/health`, { Host: "ignored.example" });
        check(r.status === 200 && r.json?.status === "ok", "GET http://localhost:PORT/health: routed to /health", `${r.status}`);
        const e = await get("http://evil.example/health", local);
        equal(e.status, 403, "GET http://evil.example/health: its authority is checked as the Host");
    }
    // A transfer coding the server cannot read: 501 at once, not a hang.
    {
        const r = await rawRequest(P, Buffer.from(`POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n` +
            `Content-Type: ${JSON_TYPE}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n`), { ms: 10000 });
        check(r.status === 501 && r.json?.error?.code === "unsupported_transfer_encoding",
              "Transfer-Encoding: gzip, chunked gets 501", `${r.status} ${r.why}`);
        const body = Buffer.from(small);
        const c = await rawRequest(P, Buffer.concat([Buffer.from(`POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n` +
            `Content-Type: ${JSON_TYPE}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
            `${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]));
        equal(c.status, 200, "Transfer-Encoding: chunked still works");
    }
    check((await srv.stop()) === 0, "exit 0");
}

// ---- bound elsewhere: any Host, unless --allow-host narrows it ------------------------------
{
    const open = await startServer(["--host", "0.0.0.0"]);
    const r = await rawRequest(open.port, http("GET", "/health", { Host: "whatever.example" }));
    equal(r.status, 200, "bound to 0.0.0.0: any Host is answered");
    await open.stop();
    const narrow = await startServer(["--host", "0.0.0.0", "--allow-host", "lamina.example"]);
    const a = await rawRequest(narrow.port, http("GET", "/health", { Host: "lamina.example" }));
    const b = await rawRequest(narrow.port, http("GET", "/health", { Host: "whatever.example" }));
    check(a.status === 200 && b.status === 403, "bound to 0.0.0.0 with --allow-host: only that name (and loopback's)",
          `${a.status} ${b.status}`);
    await narrow.stop();
}

// ---- the model field, stream_options, unknown models and --alias ----------------------------
{
    const srv = await startServer(["--alias", "gpt-4o-mini"]);
    const P = srv.port;
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    equal(JSON.stringify(models), JSON.stringify(["gpt-4o-mini"]), "--alias: /v1/models lists the alias");
    const r = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 3 });
    check(r.model === "gpt-4o-mini" && r.choices[0].message.role === "assistant", "--alias: a client naming it is answered",
          JSON.stringify(r));
    const f = await client.completions.create({ model: MODEL, prompt: "And", max_tokens: 2 });
    equal(f.usage.completion_tokens, 2, "--alias: the file's name is still accepted");
    try {
        await client.completions.create({ model: "gpt-4", prompt: "And" });
        check(false, "an unknown model: 404");
    } catch (e) {
        check(e instanceof OpenAI.NotFoundError && e.code === "model_not_found" && e.param === "model",
              "an unknown model: 404 model_not_found", `${e.status} ${e.code}`);
    }
    const send = (body) => rawRequest(P, http("POST", "/v1/completions", { Host: "localhost", "Content-Type": JSON_TYPE }, body));
    let x = await send(JSON.stringify({ prompt: "And", stream_options: { include_usage: true } }));
    check(x.status === 400 && x.json?.error?.param === "stream_options", "stream_options without stream: 400",
          `${x.status} ${x.text}`);
    x = await send(JSON.stringify({ prompt: "And", stream: false, stream_options: { include_usage: true } }));
    check(x.status === 400 && x.json?.error?.param === "stream_options", "stream_options with stream false: 400",
          `${x.status} ${x.text}`);
    x = await send('{"prompt":"And","max_tokens":2,"model":"gpt-4o-mini\\u0000evil"}');
    check(x.status === 400 && x.json?.error?.param === "model" && /NUL/.test(x.json?.error?.message),
          "a \\u0000 in model: 400 naming the field", `${x.status} ${x.text}`);
    x = await send('{"prompt":"And it came\\u0000 to pass","max_tokens":2}');
    check(x.status === 400 && x.json?.error?.param === "prompt", "a \\u0000 in the prompt: 400 naming the field",
          `${x.status} ${x.text}`);
    x = await send('{"prompt":"And \\\\u0000 is text","max_tokens":2}');
    equal(x.status, 200, "an escaped backslash before u0000 is text, not a NUL");
    x = await send(Buffer.concat([Buffer.from('{"prompt":"And","model":"kjv'), Buffer.from([0xff, 0xfe]),
                                  Buffer.from('1m"}')]));
    check(x.status === 400 && x.json?.error?.param === "model" && /UTF-8/.test(x.json?.error?.message) && x.text !== null,
          "invalid UTF-8 in model: 400 naming the field, the answer valid UTF-8", `${x.status} ${x.text}`);
    // The message quotes the model cut to 200 bytes: never inside a character.
    x = await send(JSON.stringify({ prompt: "And", model: "a".repeat(199) + "é".repeat(20) }));
    check(x.status === 404 && x.text !== null && x.json !== null, "a long unknown model: the message is cut at a character",
          `${x.status} ${x.body?.length}`);
    check((await srv.stop()) === 0, "exit 0");
}

// ---- the API key: an empty one is refused wherever it comes from; --api-key-file -------------
{
    const dir = mkdtempSync(join(tmpdir(), "lamina-guard-"));
    const one = (args, env = {}) => {
        const r = spawnSync(lamina, ["serve", model, "-z", tokenizer, "--port", "0", ...args],
                            { encoding: "utf8", timeout: 30000, env: { ...process.env, ...env } });
        return { status: r.status, lines: r.stderr.trim().split("\n") };
    };
    let r = one([], { LAMINA_API_KEY: "" });
    check(r.status === 2 && r.lines.length === 1 && /^lamina: error: LAMINA_API_KEY is empty/.test(r.lines[0]),
          "LAMINA_API_KEY= (set, empty): exit 2 with one line", JSON.stringify(r));
    writeFileSync(join(dir, "empty"), "\n");
    r = one(["--api-key-file", join(dir, "empty")]);
    check(r.status === 2 && r.lines.length === 1 && /--api-key-file .*empty/.test(r.lines[0]),
          "--api-key-file of an empty file: exit 2", JSON.stringify(r));
    r = one(["--api-key-file", join(dir, "missing")]);
    check(r.status === 1 && r.lines.length === 1 && r.lines[0].includes(join(dir, "missing")),
          "--api-key-file of a missing file: exit 1 naming it", JSON.stringify(r));
    writeFileSync(join(dir, "two"), "a\nb\n");
    r = one(["--api-key-file", join(dir, "two")]);
    check(r.status === 2 && r.lines.length === 1, "--api-key-file of two lines: exit 2", JSON.stringify(r));
    r = one(["--api-key", "k", "--api-key-file", join(dir, "two")]);
    check(r.status === 2 && /give one/.test(r.lines[0]), "--api-key with --api-key-file: exit 2", JSON.stringify(r));
    r = one(["--cors-origin", "evil.example"]);
    check(r.status === 2 && /--cors-origin/.test(r.lines[0]), "--cors-origin without a scheme: exit 2", JSON.stringify(r));
    const help = spawnSync(lamina, ["serve", "--help"], { encoding: "utf8" }).stdout;
    check(/\/proc\/PID\/cmdline/.test(help) && /LAMINA_API_KEY/.test(help) && /--api-key-file/.test(help) &&
          /--allow-host/.test(help) && /--cors-origin/.test(help) && /--alias/.test(help),
          "--help: --api-key is visible to other users; the environment and --api-key-file are named");

    const key = "file-key-0123456789";
    writeFileSync(join(dir, "key"), key + "\n", { mode: 0o600 });
    const srv = await startServer(["--api-key-file", join(dir, "key")], { LAMINA_API_KEY: "" });
    check(srv.log.some((l) => /API key required/.test(l)), "--api-key-file: the server requires the key");
    const ask = (auth) => rawRequest(srv.port, http("GET", "/v1/models", { Host: "localhost", Authorization: auth }));
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
        const x = await ask(`${scheme} ${key}`);
        equal(x.status, 200, `Authorization: ${scheme} KEY (the key from the file) is let in`);
    }
    for (const auth of [`Bearer ${key}x`, `Basic ${key}`, key, null]) {
        const x = await ask(auth);
        equal(x.status, 401, `Authorization: ${auth === null ? "(none)" : auth.replace(key, "KEY")}: 401`);
    }
    check((await srv.stop()) === 0, "exit 0");
    rmSync(dir, { recursive: true, force: true });
}

// ---- a client that half-closes its socket keeps its answer; a reset cancels ------------------
{
    const srv = await startServer(["--parallel", "2"], { LAMINA_SERVE_TEST_STEP_MS: "20" });
    const P = srv.port;
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const req = { model: MODEL, prompt: "And it came to pass", max_tokens: 40, seed: 17, temperature: 0.8 };
    const want = (await client.completions.create(req)).choices[0].text;
    const head = { Host: "localhost", "Content-Type": JSON_TYPE };

    const whole = await rawRequest(P, http("POST", "/v1/completions", head, JSON.stringify(req)), { half: true });
    check(whole.status === 200 && whole.json?.choices?.[0]?.text === want && whole.json.usage.completion_tokens === 40,
          "half-closed, whole answer: 200 with the full text", `${whole.status} ${whole.why} ${whole.text}`);

    const stream = await rawRequest(P, http("POST", "/v1/completions", head, JSON.stringify({ ...req, stream: true })),
                                    { half: true });
    const events = (stream.text ?? "").split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    const chunks = events.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    const text = chunks.map((c) => c.choices?.[0]?.text ?? "").join("");
    check(stream.status === 200 && events.at(-1) === "[DONE]" && !chunks.some((c) => c.error) && text === want &&
          chunks.at(-1).choices[0].finish_reason === "length",
          "half-closed, streamed: every chunk, no error event, [DONE]", `${stream.status} ${stream.text?.slice(-300)}`);

    // A reset while waiting for a whole answer cancels it, and the log says so.
    const before = (await metrics(srv)).lamina_generated_tokens_total;
    const sock = connect({ port: P, host: "127.0.0.1" }, () =>
        sock.write(http("POST", "/v1/completions", head, JSON.stringify({ ...req, max_tokens: 200 }))));
    sock.on("error", () => {});
    await waitMetrics(srv, (m) => m.lamina_active_sequences === 1);
    await sleep(100);
    sock.resetAndDestroy();
    const m = await waitMetrics(srv, (x) => x.lamina_active_sequences === 0);
    check(m.lamina_active_sequences === 0 && m.lamina_generated_tokens_total - before < 200,
          "a reset client: its sequence is cancelled early", `${m.lamina_generated_tokens_total - before} tokens`);
    await sleep(200);
    check(srv.log.some((l) => / 499 .*reset the connection/.test(l)), "the access log says the client reset the connection",
          srv.log.slice(-3).join("\n"));
    check(!srv.log.some((l) => /server stopped/.test(l)), "nothing blames the server");
    check((await srv.stop()) === 0, "exit 0");
}

// ---- a queued stream whose client closes its socket leaves the queue ----------------------
{
    const srv = await startServer(["--parallel", "1", "--queue", "4"], { LAMINA_SERVE_TEST_STEP_MS: "20" });
    const head = { Host: "localhost", "Content-Type": JSON_TYPE };
    const body = JSON.stringify({ prompt: "And", max_tokens: 200, seed: 3, stream: true });
    const holder = connect({ port: srv.port, host: "127.0.0.1" }, () => holder.write(http("POST", "/v1/completions", head, body)));
    holder.on("error", () => {});
    await waitMetrics(srv, (m) => m.lamina_active_sequences === 1);
    const queued = connect({ port: srv.port, host: "127.0.0.1" }, () => queued.write(http("POST", "/v1/completions", head, body)));
    queued.on("error", () => {});
    let m = await waitMetrics(srv, (x) => x.lamina_queue_depth === 1);
    check(m.lamina_queue_depth === 1, "a second stream waits in the queue");
    queued.end();
    queued.destroy(); // closed altogether: the server's next write meets a reset
    m = await waitMetrics(srv, (x) => x.lamina_queue_depth === 0);
    check(m.lamina_queue_depth === 0 && m.lamina_active_sequences === 1,
          "a queued stream whose client closed leaves the queue; the running one goes on", JSON.stringify(m));
    holder.destroy();
    check((await srv.stop()) === 0, "exit 0");
}
done();
