// Issue 25, items 3, 5 and 6 through OpenAI's Node client: logprobs (the
// legacy completions shape, with echo, and chat's), streamed chunks carrying
// the same logprobs as the whole answer, the sampling controls (seeded,
// deterministic, neutral values changing nothing, top_k 1 = greedy), prompts
// as token ids, POST /tokenize and /detokenize, and the 400s. The values
// themselves are checked to the bit against the library's logits by
// tests/batch/test_logprobs.c.
import { spawnSync } from "node:child_process";
import { check, done, equal, lamina, loadOpenAI, model, startServer, tokenizer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const server = await startServer(["--parallel", "2"]);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
const MODEL = "kjv1m";

async function expect400(what, promise, param) {
    try {
        await promise;
        check(false, `${what}: 400`, "the request succeeded");
    } catch (e) {
        check(e instanceof OpenAI.BadRequestError && e.status === 400 && (param === undefined || e.param === param),
              `${what}: 400 naming ${param}`, `${e.constructor.name} ${e.status} ${e.message} param=${e.param}`);
    }
}

async function post(path, body, headers = { "content-type": "application/json" }) {
    const r = await fetch(`${server.url}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
    let json = null;
    try { json = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, json };
}

// ---- completions: the legacy shape ---------------------------------------
const base = { model: MODEL, prompt: "In the beginning God created", seed: 5, max_tokens: 24 };
const plain = await client.completions.create(base);
const lp = await client.completions.create({ ...base, logprobs: 3 });
equal(lp.choices[0].text, plain.choices[0].text, "logprobs do not change the text");
const L = lp.choices[0].logprobs;
check(L && Array.isArray(L.tokens) && L.tokens.length === L.token_logprobs.length &&
      L.tokens.length === L.top_logprobs.length && L.tokens.length === L.text_offset.length &&
      L.tokens.length === lp.usage.completion_tokens - (lp.choices[0].finish_reason === "stop" ? 1 : 0),
      "completions: tokens, token_logprobs, top_logprobs, text_offset: one per token", JSON.stringify(L));
equal(L.tokens.join(""), lp.choices[0].text, "the tokens join into the text");
check(L.text_offset.every((o, i) => o === L.tokens.slice(0, i).reduce((n, t) => n + Buffer.byteLength(t), 0)),
      "text_offset: the bytes of text before each token");
check(L.token_logprobs.every((v) => typeof v === "number" && v <= 0), "logprobs are numbers <= 0");
check(L.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 3 &&
      Object.values(t).reduce((s, v) => s + Math.exp(v), 0) <= 1 + 1e-12),
      "top_logprobs: at most 3 alternatives, their probabilities summing to at most 1");
check(L.top_logprobs.every((t, i) => (L.tokens[i] in t ? t[L.tokens[i]] === L.token_logprobs[i] :
      Object.values(t).every((v) => v >= L.token_logprobs[i]))),
      "the sampled token is among the alternatives with its logprob, or below them all");

// echo: the prompt's tokens first, the first with null; the rest as without echo
const echo = await client.completions.create({ ...base, logprobs: 3, echo: true });
const E = echo.choices[0].logprobs;
equal(E.tokens.length, echo.usage.prompt_tokens + L.tokens.length, "echo: an entry per prompt token too");
check(E.token_logprobs[0] === null && E.top_logprobs[0] === null && E.token_logprobs.slice(1).every((v) => typeof v === "number"),
      "echo: only the first prompt token has a null logprob");
equal(JSON.stringify(E.token_logprobs.slice(echo.usage.prompt_tokens)), JSON.stringify(L.token_logprobs),
      "echo: the completion's logprobs are those without echo");
equal(E.tokens.join(""), echo.choices[0].text, "echo: the tokens join into the echoed text");

// streaming: the chunks' logprobs put together are the whole answer's
{
    const stream = await client.completions.create({ ...base, logprobs: 3, echo: true, stream: true });
    const got = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    let text = "";
    for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (!c) continue;
        text += c.text;
        if (c.logprobs) for (const k of Object.keys(got)) got[k].push(...c.logprobs[k]);
    }
    equal(text, echo.choices[0].text, "stream: the same text");
    equal(JSON.stringify(got), JSON.stringify(E), "stream: the chunks' logprobs equal the whole answer's");
}

// ---- chat ----------------------------------------------------------------
const chatBase = { model: MODEL, messages: [{ role: "user", content: "Who made the heaven and the earth?" }], seed: 3, max_tokens: 20 };
const chat = await client.chat.completions.create({ ...chatBase, logprobs: true, top_logprobs: 2 });
const C = chat.choices[0].logprobs?.content;
check(Array.isArray(C) && C.length >= 1 && C.every((e) => typeof e.token === "string" && typeof e.logprob === "number" &&
      Array.isArray(e.bytes) && Array.isArray(e.top_logprobs) && e.top_logprobs.length === 2 &&
      e.top_logprobs.every((t) => typeof t.token === "string" && typeof t.logprob === "number" && Array.isArray(t.bytes)) &&
      e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob && e.logprob <= e.top_logprobs[0].logprob),
      "chat: content[] with token, logprob, bytes and 2 top_logprobs, likeliest first", JSON.stringify(C?.[0]));
equal(C.map((e) => e.token).join(""), chat.choices[0].message.content, "chat: the tokens join into the content");
const chatPlain = await client.chat.completions.create(chatBase);
equal(chatPlain.choices[0].message.content, chat.choices[0].message.content, "chat: logprobs do not change the text");
check(chatPlain.choices[0].logprobs === null, "chat without logprobs: logprobs null");
{
    const stream = await client.chat.completions.create({ ...chatBase, logprobs: true, top_logprobs: 2, stream: true });
    const got = [];
    for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (c?.logprobs?.content) got.push(...c.logprobs.content);
    }
    equal(JSON.stringify(got), JSON.stringify(C), "chat stream: the chunks' logprobs equal the whole answer's");
}

// `lamina batch` gives the same records' logprobs (the shared request driver)
{
    const lines = [{ ...base, logprobs: 3, echo: true }, { ...chatBase, logprobs: true, top_logprobs: 2 }]
        .map(({ model: _, ...r }) => JSON.stringify(r)).join("\n") + "\n";
    const r = spawnSync(lamina, ["batch", model, "-z", tokenizer], { input: lines, encoding: "utf8" });
    const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    check(r.status === 0 && recs.length === 2, "lamina batch runs the same requests", r.stderr);
    equal(JSON.stringify(recs[0]?.logprobs), JSON.stringify(E), "lamina batch: the completion's logprobs, as serve's");
    equal(JSON.stringify(recs[1]?.logprobs?.content), JSON.stringify(C), "lamina batch: the chat's logprobs, as serve's");
}

// ---- sampling controls ---------------------------------------------------
const ctl = { ...base, max_tokens: 40, temperature: 1, top_p: 0.95 };
const run = async (extra) => (await client.completions.create({ ...ctl, ...extra })).choices[0].text;
const plainText = await run({});
equal(await run({ top_k: 0, min_p: 0, repeat_penalty: 1, presence_penalty: 0, frequency_penalty: 0, logit_bias: {} }),
      plainText, "neutral controls: the same text as without them");
equal(await run({ max_completion_tokens: 40, max_tokens: undefined }), plainText, "max_completion_tokens = max_tokens");
equal(await run({ top_k: 1 }), await run({ temperature: 0 }), "top_k 1: the greedy text");
equal(await run({ min_p: 1 }), await run({ temperature: 0 }), "min_p 1: the greedy text");
for (const extra of [{ presence_penalty: 1.5 }, { frequency_penalty: 2 }, { repeat_penalty: 1.8, repeat_last_n: 16 },
                     { top_k: 5, min_p: 0.1 }, { logit_bias: { 261: -100 } }]) {
    const a = await run(extra), b = await run(extra);
    check(a === b && a !== plainText, `${JSON.stringify(extra)}: deterministic with a seed, and it changes the text`, `${a}\n    ${plainText}`);
}
{
    const banned = await client.completions.create({ ...ctl, logprobs: 0, logit_bias: { 261: -100 } });
    check(!banned.choices[0].logprobs.tokens.includes(" the"), "logit_bias -100 on ' the' (261): never sampled");
    const forced = await client.completions.create({ ...ctl, max_tokens: 5, logprobs: 0, logit_bias: { 261: 100 } });
    equal(forced.choices[0].text, " the the the the the", "logit_bias 100 on ' the': always sampled");
}

// ---- token endpoints and token prompts --------------------------------------
{
    const t = await post("/tokenize", { content: "In the beginning" });
    check(t.status === 200 && Array.isArray(t.json.tokens) && t.json.tokens.every(Number.isInteger), "POST /tokenize: ids", JSON.stringify(t.json));
    const s = await post("/tokenize", { content: "In the beginning", add_special: true, with_pieces: true });
    check(s.status === 200 && s.json.tokens.length === t.json.tokens.length + 1 && s.json.tokens[0].id === 1 &&
          s.json.tokens.slice(1).every((p, i) => p.id === t.json.tokens[i] && typeof p.piece === "string"),
          "add_special adds BOS; with_pieces gives id and piece", JSON.stringify(s.json));
    const d = await post("/detokenize", { tokens: s.json.tokens.map((p) => p.id) });
    equal(d.json?.content, "In the beginning", "POST /detokenize: the text back");
    const ids = await client.completions.create({ ...base, prompt: s.json.tokens.map((p) => p.id), echo: true });
    const text = await client.completions.create({ ...base, prompt: "In the beginning", echo: true });
    equal(ids.choices[0].text, text.choices[0].text, "a prompt of token ids: the same text as its text");
    const bytes = await post("/tokenize", { content: "á", with_pieces: true });
    check(bytes.json?.tokens?.some((p) => Array.isArray(p.piece)), "a piece that is not whole UTF-8: its bytes", JSON.stringify(bytes.json));
    for (const [path, body, what] of [["/tokenize", {}, "no content"], ["/tokenize", { content: 5 }, "content not a string"],
                                      ["/tokenize", { content: "a", parse_special: true }, "an unknown field"],
                                      ["/detokenize", { tokens: [1, 1024] }, "an id outside the vocabulary"],
                                      ["/detokenize", { tokens: "1" }, "tokens not an array"], ["/detokenize", "[1]", "not an object"]]) {
        const r = await post(path, body);
        check(r.status === 400 && typeof r.json?.error?.message === "string", `${path}, ${what}: 400`, `${r.status} ${JSON.stringify(r.json)}`);
    }
    const form = await post("/tokenize", { content: "a" }, { "content-type": "text/plain" });
    equal(form.status, 415, "/tokenize takes JSON only (the POST guards)");
}

// ---- 400s --------------------------------------------------------------------
await expect400("logprobs 21", client.completions.create({ ...base, logprobs: 21 }), "logprobs");
await expect400("logprobs -1", client.completions.create({ ...base, logprobs: -1 }), "logprobs");
await expect400("completions logprobs true", client.completions.create({ ...base, logprobs: true }), "logprobs");
await expect400("completions top_logprobs", client.completions.create({ ...base, top_logprobs: 2 }), "top_logprobs");
await expect400("chat logprobs 3", client.chat.completions.create({ ...chatBase, logprobs: 3 }), "logprobs");
await expect400("chat top_logprobs without logprobs", client.chat.completions.create({ ...chatBase, top_logprobs: 2 }), "top_logprobs");
await expect400("chat top_logprobs 21", client.chat.completions.create({ ...chatBase, logprobs: true, top_logprobs: 21 }), "top_logprobs");
await expect400("max_tokens and max_completion_tokens differ", client.completions.create({ ...base, max_completion_tokens: 7 }), "max_completion_tokens");
await expect400("presence_penalty 3", client.completions.create({ ...base, presence_penalty: 3 }), "presence_penalty");
await expect400("frequency_penalty -2.5", client.completions.create({ ...base, frequency_penalty: -2.5 }), "frequency_penalty");
await expect400("top_k -1", client.completions.create({ ...base, top_k: -1 }), "top_k");
await expect400("min_p 2", client.completions.create({ ...base, min_p: 2 }), "min_p");
await expect400("repeat_penalty 0", client.completions.create({ ...base, repeat_penalty: 0 }), "repeat_penalty");
await expect400("logit_bias id out of the vocabulary", client.completions.create({ ...base, logit_bias: { 1024: 1 } }), "logit_bias.1024");
await expect400("logit_bias 101", client.completions.create({ ...base, logit_bias: { 5: 101 } }), "logit_bias.5");
await expect400("logit_bias key not an id", client.completions.create({ ...base, logit_bias: { x: 1 } }), "logit_bias");
await expect400("a prompt id out of the vocabulary", client.completions.create({ ...base, prompt: [1, 5000] }), "prompt[1]");
await expect400("an array of prompts", client.completions.create({ ...base, prompt: [[1, 2]] }), "prompt[0]");
await expect400("an empty id prompt", client.completions.create({ ...base, prompt: [] }), "prompt");

// the API key guards the token endpoints as the /v1 ones
{
    const keyed = await startServer(["--api-key", "k3y-for-the-token-tests"]);
    const ask = (key) => fetch(`${keyed.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "a" }),
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) } });
    equal((await ask(null)).status, 401, "/tokenize without the key: 401");
    equal((await ask("k3y-for-the-token-tests")).status, 200, "/tokenize with the key: 200");
    await keyed.stop();
}

await server.stop();
done();
