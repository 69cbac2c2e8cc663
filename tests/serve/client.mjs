// `lamina serve` through OpenAI's official Node client: models, completions
// and chat, streaming and not, seeded text equal to the CLI's, stop strings,
// and errors surfacing as the client's typed errors (400, 401, 404, 413, 503).
import { spawnSync } from "node:child_process";
import { check, cli, done, equal, lamina, loadOpenAI, model, sleep, startServer, tokenizer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const server = await startServer(["--parallel", "4"]);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
const MODEL = "kjv1m";

async function streamText(stream, field) {
    let text = "", finish = null, usage = null, role = null;
    const ids = new Set();
    for await (const chunk of stream) {
        ids.add(chunk.id);
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        if (field === "text") text += c.text;
        else {
            if (c.delta.role && role === null) role = c.delta.role;
            text += c.delta.content ?? "";
        }
        if (c.finish_reason) finish = c.finish_reason;
    }
    return { text, finish, usage, ids, role };
}

async function expectError(what, promise, status, Type, fields = {}) {
    try {
        await promise;
        check(false, `${what}: ${status}`, "the request succeeded");
    } catch (e) {
        let ok = e instanceof Type && e.status === status;
        for (const [k, v] of Object.entries(fields)) ok &&= e[k] === v;
        check(ok, `${what}: ${Type.name} ${status}`, `${e.constructor.name} ${e.status} ${e.message} param=${e.param} code=${e.code}`);
        return e;
    }
}

// ---- models ---------------------------------------------------------------
const models = [];
for await (const m of client.models.list()) models.push(m);
check(models.length === 1 && models[0].id === MODEL && models[0].object === "model", "GET /v1/models lists the model");
const info = models[0];
check(["fp32 (v0)", "fp32", "q8_0"].includes(info.format) && typeof info.kernels === "string" &&
      info.threads >= 1 && info.parallel === 4 && info.ctx === 256 &&
      info.defaults?.temperature === 1 && info.defaults?.top_p === 0.9,
      "the model carries format, kernels, threads, parallel, ctx and the sampling defaults",
      JSON.stringify(info));

// ---- completions: seeded text equals the CLI's ------------------------------
const cases = [
    { prompt: "And it came to pass", seed: 42, temperature: 0.8, top_p: 0.9, max_tokens: 40 },
    { prompt: "In the beginning God", seed: 7, temperature: 1.0, top_p: 0.5, max_tokens: 80 },
    { prompt: "Jesus wept", seed: 1234, temperature: 0, top_p: 0.9, max_tokens: 30 },
    { prompt: "And the LORD said unto Moses", seed: 99, temperature: 1.2, top_p: 0, max_tokens: 120 },
];
for (const c of cases) {
    const name = `"${c.prompt}" seed ${c.seed}`;
    const r = await client.completions.create({ model: MODEL, ...c, echo: true });
    const choice = r.choices[0];
    check(r.object === "text_completion" && r.id.startsWith("cmpl-") && r.model === MODEL &&
          ["stop", "length"].includes(choice.finish_reason) && choice.index === 0,
          `${name}: a text_completion object`, JSON.stringify(r));
    const u = r.usage;
    check(u.total_tokens === u.prompt_tokens + u.completion_tokens && u.completion_tokens <= c.max_tokens &&
          (choice.finish_reason === "stop" || u.completion_tokens === c.max_tokens),
          `${name}: usage adds up`, JSON.stringify(u));
    const steps = u.prompt_tokens + c.max_tokens - 1;
    const want = cli(c.prompt, { ...c, steps });
    equal(choice.text + "\n", want, `${name}: echo text equals lamina -n ${steps}`);

    const s = await streamText(
        await client.completions.create({ model: MODEL, ...c, echo: true, stream: true, stream_options: { include_usage: true } }),
        "text");
    equal(s.text + "\n", want, `${name}: streamed text equals the CLI's`);
    check(s.ids.size === 1 && [...s.ids][0].startsWith("cmpl-") && s.finish === choice.finish_reason,
          `${name}: one stream id, same finish_reason`);
    check(JSON.stringify(s.usage) === JSON.stringify(u), `${name}: the stream's usage chunk`, JSON.stringify(s.usage));

    const plain = await client.completions.create({ model: MODEL, ...c });
    check(choice.text.endsWith(plain.choices[0].text) && plain.choices[0].text.length > 0 &&
          plain.usage.completion_tokens === u.completion_tokens,
          `${name}: without echo, the completion alone`);
}

// Stop strings cut the text where they begin, even across tokens and chunks.
{
    const c = { prompt: "And it came to pass", seed: 5, temperature: 0.9, top_p: 0.9, max_tokens: 150 };
    const full = (await client.completions.create({ model: MODEL, ...c })).choices[0].text;
    const at = full.indexOf(" the", 10);
    if (check(at > 0, "the reference text contains ' the'", full)) {
        const r = await client.completions.create({ model: MODEL, ...c, stop: [" the", "zzz"] });
        equal(r.choices[0].text, full.slice(0, at), "stop: the text ends before the stop string");
        equal(r.choices[0].finish_reason, "stop", "stop: finish_reason stop");
        const s = await streamText(await client.completions.create({ model: MODEL, ...c, stop: " the", stream: true }), "text");
        equal(s.text, full.slice(0, at), "stop: the streamed text ends there too");
    }
}

// ---- chat -------------------------------------------------------------------
{
    const req = {
        model: MODEL, seed: 11, temperature: 0.7, max_tokens: 60,
        messages: [
            { role: "system", content: "Answer in the words of the King James Bible." },
            { role: "user", content: "Who led Israel out of Egypt?" },
        ],
    };
    const r = await client.chat.completions.create(req);
    const m = r.choices[0].message;
    check(r.object === "chat.completion" && r.id.startsWith("chatcmpl-") && m.role === "assistant" &&
          typeof m.content === "string" && ["stop", "length"].includes(r.choices[0].finish_reason) &&
          r.usage.prompt_tokens > 10,
          "chat: a chat.completion object", JSON.stringify(r));
    const s = await streamText(await client.chat.completions.create({ ...req, stream: true }), "delta");
    equal(s.text, m.content, "chat: the streamed answer equals the whole one");
    check(s.role === "assistant" && s.finish === r.choices[0].finish_reason && s.ids.size === 1,
          "chat: the stream starts with the role and ends with the same finish_reason");
    const again = await client.chat.completions.create(req);
    equal(again.choices[0].message.content, m.content, "chat: the same seed gives the same answer");
    const turns = await client.chat.completions.create({
        ...req,
        messages: [...req.messages, { role: "assistant", content: m.content }, { role: "user", content: "And then?" }],
    });
    check(turns.usage.prompt_tokens > r.usage.prompt_tokens, "chat: earlier turns are in the prompt");
}

// ---- errors as the client's typed errors ----------------------------------------
await expectError("a string max_tokens", client.completions.create({ model: MODEL, prompt: "x", max_tokens: "ten" }),
    400, OpenAI.BadRequestError, { param: "max_tokens", type: "invalid_request_error" });
await expectError("a number prompt", client.completions.create({ model: MODEL, prompt: 5 }),
    400, OpenAI.BadRequestError, { param: "prompt" });
await expectError("an unknown model", client.completions.create({ model: "gpt-4", prompt: "x" }),
    404, OpenAI.NotFoundError, { param: "model", code: "model_not_found" });
await expectError("an unknown field", client.completions.create({ model: MODEL, prompt: "x", frobnicate: 1 }),
    400, OpenAI.BadRequestError);
await expectError("a prompt longer than the context",
    client.completions.create({ model: MODEL, prompt: "And it came to pass ".repeat(200) }),
    400, OpenAI.BadRequestError, { code: "context_length_exceeded" });
await expectError("messages sent to /v1/completions", client.completions.create({ model: MODEL, messages: [] }),
    400, OpenAI.BadRequestError);
await expectError("a chat without messages", client.chat.completions.create({ model: MODEL }), 400, OpenAI.BadRequestError);
await expectError("a chat message with a bad role",
    client.chat.completions.create({ model: MODEL, messages: [{ role: "wizard", content: "hi" }] }),
    400, OpenAI.BadRequestError);
await expectError("chat messages out of order", client.chat.completions.create({ model: MODEL,
    messages: [{ role: "user", content: "u" }, { role: "assistant", content: "a" }] }),
    400, OpenAI.BadRequestError, { type: "invalid_request_error", param: "messages[1]", code: null });
await expectError("stream not a boolean", client.completions.create({ model: MODEL, prompt: "x", stream: "yes" }),
    400, OpenAI.BadRequestError, { param: "stream" });

async function raw(path, init) {
    const r = await fetch(`${server.url}${path}`, init);
    let body = null;
    try { body = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, body, headers: r.headers };
}
const errorShape = (b) => b && b.error && typeof b.error.message === "string" && typeof b.error.type === "string" &&
    "param" in b.error && "code" in b.error;
for (const [what, body] of [["malformed JSON", "{\"prompt\": \"x\""], ["an array body", "[1,2]"], ["trailing garbage", "{} x"], ["an empty body", ""]]) {
    const r = await raw("/v1/completions", { method: "POST", body, headers: { "content-type": "application/json" } });
    check(r.status === 400 && errorShape(r.body), `${what}: 400 with OpenAI's error object`, JSON.stringify(r.body));
}
{
    const r = await raw("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "x".repeat(2 << 20) }),
                                             headers: { "content-type": "application/json" } });
    check(r.status === 413 && errorShape(r.body), "a 2 MiB body: 413 with an error object", `${r.status} ${JSON.stringify(r.body)}`);
}
{
    const r = await raw("/v1/nothing", {});
    check(r.status === 404 && errorShape(r.body), "an unknown path: 404 with an error object");
    const g = await raw("/v1/completions", {});
    check(g.status === 405 && errorShape(g.body), "GET on /v1/completions: 405");
    await raw("/v1/x%0Aforged%22line", {});
    check(!server.log.some((l) => l.startsWith("forged")), "a percent-encoded newline in a URL cannot forge a log line");
    const h = await raw("/health", {});
    check(h.status === 200 && h.body?.status === "ok", "GET /health");
}
const finalCode = await server.stop();
check(finalCode === 0, "SIGTERM on an idle server: exit 0", `exit ${finalCode}`);

// ---- the API key --------------------------------------------------------------------
for (const how of ["--api-key", "LAMINA_API_KEY"]) {
    const secret = "s3cret-key-for-tests";
    const srv = how === "--api-key" ? await startServer(["--api-key", secret])
                                    : await startServer([], { LAMINA_API_KEY: secret });
    const good = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: secret, maxRetries: 0 });
    const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "s3cret-key-for-tesTs", maxRetries: 0 });
    const r = await good.completions.create({ model: MODEL, prompt: "And", max_tokens: 3, seed: 1 });
    check(r.choices[0].text.length > 0, `${how}: the right key is let in`);
    await expectError(`${how}: a wrong key`, bad.completions.create({ model: MODEL, prompt: "And" }), 401, OpenAI.AuthenticationError);
    await expectError(`${how}: a wrong key on models`, bad.models.list(), 401, OpenAI.AuthenticationError);
    const prefix = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: secret.slice(0, -1), maxRetries: 0 });
    await expectError(`${how}: a prefix of the key`, prefix.completions.create({ model: MODEL, prompt: "And" }), 401, OpenAI.AuthenticationError);
    const nokey = await fetch(`${srv.url}/v1/models`);
    check(nokey.status === 401 && errorShape(await nokey.json()) && nokey.headers.get("www-authenticate") === "Bearer",
          `${how}: no Authorization header: 401 with WWW-Authenticate`);
    const health = await fetch(`${srv.url}/health`);
    check(health.status === 200, `${how}: /health needs no key`);
    check((await srv.stop()) === 0, `${how}: exit 0`);
}

// ---- a full queue: 503 with Retry-After ----------------------------------------------
{
    const srv = await startServer(["--parallel", "1", "--queue", "0"], { LAMINA_SERVE_TEST_STEP_MS: "20" });
    const c = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const long = c.completions.create({ model: MODEL, prompt: "And", max_tokens: 100, seed: 3 });
    await sleep(300);
    const e = await expectError("a request beyond --parallel 1 --queue 0",
        c.completions.create({ model: MODEL, prompt: "And", max_tokens: 5 }), 503, OpenAI.InternalServerError);
    check(e?.headers?.get?.("retry-after") === "1", "503 carries Retry-After: 1");
    const first = await long;
    check(first.usage.completion_tokens === 100, "the running request is not disturbed");
    check((await srv.stop()) === 0, "exit 0");
}
// ---- bad command lines: one line naming the problem, exit 2 (usage) or 1 (files, ports) ----
for (const [args, code, pattern] of [
    [["serve"], 2, /needs a MODEL/],
    [["serve", model, "-z", tokenizer, "--port", "70000"], 2, /--port/],
    [["serve", model, "-z", tokenizer, "--parallel", "0"], 2, /--parallel/],
    [["serve", model, "-z", tokenizer, "--bogus", "1"], 2, /unknown option '--bogus'/],
    [["serve", model, "-z", tokenizer, "--ctx", "100000"], 2, /seq_len/],
    [["serve", model, "-z", tokenizer, "--api-key", ""], 2, /--api-key/],
    [["serve", "/nonexistent/model.bin"], 1, /nonexistent/],
    [["serve", model, "-z", tokenizer, "--host", "999.1.1.1"], 1, /--host/],
]) {
    const r = spawnSync(lamina, args, { encoding: "utf8", timeout: 30000 });
    const lines = r.stderr.trim().split("\n");
    check(r.status === code && lines.length === 1 && /^lamina: error: /.test(lines[0]) && pattern.test(lines[0]),
          `lamina ${args.slice(1).join(" ")}: exit ${code} with one line`, `exit ${r.status}: ${r.stderr}`);
}
{
    const busy = await startServer();
    const r = spawnSync(lamina, ["serve", model, "-z", tokenizer, "--port", String(busy.port)], { encoding: "utf8", timeout: 30000 });
    check(r.status === 1 && /cannot listen/.test(r.stderr), "a port in use: exit 1 naming it", r.stderr);
    await busy.stop();
}
done();
