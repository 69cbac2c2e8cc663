// The prompt cache (--prompt-cache-mb) through OpenAI's Node client: a
// scripted 8-turn chat (streamed and not) and 64 concurrent completions that
// share prefixes give the same text, usage and finish_reason on a server with
// the cache and one without; /metrics shows the reuse; a small cap is never
// exceeded.
import { check, done, equal, loadOpenAI, metrics, startServer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const MODEL = "kjv1m";
const off = await startServer(["--parallel", "8", "--prompt-cache-mb", "0"]);
const on = await startServer(["--parallel", "8", "--prompt-cache-mb", "64"]);
const tiny = await startServer(["--parallel", "4", "--prompt-cache-mb", "1"]);
const clientOf = (s) => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "none", maxRetries: 0, timeout: 120000 });
const [cOff, cOn, cTiny] = [off, on, tiny].map(clientOf);
// a failure that throws must not leave the servers behind
process.on("uncaughtException", (e) => {
    console.log(`FAIL: ${e.stack}`);
    for (const s of [off, on, tiny]) s.proc.kill("SIGKILL");
    process.exit(1);
});

check(on.log.some((l) => /prompt cache 64 MiB/.test(l)) && off.log.some((l) => /prompt cache 0 MiB/.test(l)),
      "the servers print their prompt cache size", on.log.join("\n"));

async function chat(client, req, stream) {
    if (!stream) {
        const r = await client.chat.completions.create(req);
        return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage };
    }
    let text = "", finish = null, usage = null;
    const s = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of s) {
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        text += c.delta.content ?? "";
        if (c.finish_reason) finish = c.finish_reason;
    }
    return { text, finish, usage };
}

const same = (a, b, what) =>
    equal(JSON.stringify([a.text, a.finish, a.usage]), JSON.stringify([b.text, b.finish, b.usage]), what);

// ---- an 8-turn chat: each turn resends the conversation ----------------------
const users = ["Moses?", "And Aaron?", "The plagues?", "The sea?", "Manna?", "Joshua?", "Jericho?", "Amen."];
const messages = [{ role: "system", content: "A scribe." }];
let before = await metrics(on);
for (let t = 0; t < users.length; t++) {
    messages.push({ role: "user", content: users[t] });
    const req = { model: MODEL, messages: [...messages], seed: 500 + t, temperature: 0.8, top_p: 0.9, max_tokens: 6 + t };
    const a = await chat(cOff, req, t % 2 === 1);
    const b = await chat(cOn, req, t % 2 === 1);
    same(b, a, `chat turn ${t + 1} (${t % 2 ? "streamed" : "whole"}): cache on = cache off`);
    messages.push({ role: "assistant", content: a.text });
}
let after = await metrics(on);
const reused = after.lamina_prompt_cache_tokens_reused_total - before.lamina_prompt_cache_tokens_reused_total;
const hits = after.lamina_prompt_cache_hits_total - before.lamina_prompt_cache_hits_total;
check(hits >= 7 && reused > 0, `turns 2..8 start from the previous turn (${hits} hits, ${reused} tokens reused)`);
const offM = await metrics(off);
check(offM.lamina_prompt_cache_hits_total === 0 && offM.lamina_prompt_cache_bytes === 0 &&
      offM.lamina_prompt_tokens_computed_total === offM.lamina_prompt_tokens_total,
      "without the cache every prompt token is computed", JSON.stringify(offM));
check(after.lamina_prompt_tokens_computed_total + after.lamina_prompt_cache_tokens_reused_total ===
      after.lamina_prompt_tokens_total && after.lamina_prompt_tokens_computed_total < offM.lamina_prompt_tokens_computed_total,
      `with it fewer are (${after.lamina_prompt_tokens_computed_total} of ${after.lamina_prompt_tokens_total})`);
check(after.lamina_prompt_cache_bytes > 0 && after.lamina_prompt_cache_bytes <= 64 << 20 &&
      after.lamina_prompt_cache_capacity_bytes === 64 << 20, "/metrics shows the cache's bytes and cap");

// ---- 64 concurrent completions sharing prefixes ------------------------------
const stems = ["And it came to pass, when the king", "In the beginning God created", "And the LORD spake unto Moses, saying"];
const specs = [];
for (let i = 0; i < 64; i++) {
    const stem = stems[i % 3];
    const tail = i % 4 === 0 ? "" : [" that", " the heaven", " Speak unto the children"][(i >> 2) % 3];
    specs.push({ model: MODEL, prompt: stem + tail, seed: 9000 + i, temperature: [0, 0.7, 1.0][i % 3],
                 top_p: 0.9, max_tokens: 8 + (i * 7) % 40, ...(i % 5 === 0 ? { stop: ["\n"] } : {}) });
}
async function complete(client, spec, stream) {
    if (!stream) {
        const r = await client.completions.create(spec);
        return { text: r.choices[0].text, finish: r.choices[0].finish_reason, usage: r.usage };
    }
    let text = "", finish = null, usage = null;
    const s = await client.completions.create({ ...spec, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of s) {
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
    }
    return { text, finish, usage };
}
const t0 = Date.now();
const [ra, rb] = await Promise.all([cOff, cOn].map((c) =>
    Promise.all(specs.map((s, i) => complete(c, s, i % 2 === 0).catch((e) => ({ error: e.message }))))));
let equalAll = true;
for (let i = 0; i < 64; i++)
    if (JSON.stringify(ra[i]) !== JSON.stringify(rb[i]) || ra[i].error) {
        equalAll = false;
        check(false, `completion ${i}: cache on = cache off`, `${JSON.stringify(rb[i])}\n    ${JSON.stringify(ra[i])}`);
    }
check(equalAll, `64 concurrent completions sharing prefixes: cache on = cache off (${Date.now() - t0} ms)`);
const m2 = await metrics(on);
check(m2.lamina_prompt_cache_hits_total > after.lamina_prompt_cache_hits_total,
      `the shared prefixes are reused (${m2.lamina_prompt_cache_hits_total - after.lamina_prompt_cache_hits_total} hits)`);

// ---- n choices from a cached prefix ----------------------------------------------
for (const stream of [false, true]) {
    const req = { model: MODEL, messages: [...messages, { role: "user", content: "Again?" }], n: 3, seed: 808, temperature: 0.9, max_tokens: 10 };
    const got = [];
    for (const c of [cOff, cOn]) {
        if (!stream) {
            const r = await c.chat.completions.create(req);
            got.push(JSON.stringify([r.choices.map((x) => [x.index, x.message.content, x.finish_reason]), r.usage]));
        } else {
            const by = {};
            for await (const chunk of await c.chat.completions.create({ ...req, stream: true }))
                for (const x of chunk.choices) by[x.index] = (by[x.index] ?? "") + (x.delta.content ?? "") + (x.finish_reason ? `|${x.finish_reason}` : "");
            got.push(JSON.stringify(by));
        }
    }
    equal(got[1], got[0], `n = 3 after the chat${stream ? ", streamed" : ""}: cache on = cache off`);
}

// ---- a cap of 1 MiB holds, and evicts -----------------------------------------
let maxBytes = 0;
for (let i = 0; i < 12; i++) {
    const spec = { model: MODEL, prompt: `${stems[i % 3]} ${i}`, seed: 70 + i, temperature: 1, max_tokens: 150 };
    const [x, y] = await Promise.all([complete(cOff, spec, false), complete(cTiny, spec, i % 2 === 1)]);
    same(y, x, `a 1 MiB cache, request ${i}: the same answer`);
    const m = await metrics(tiny);
    maxBytes = Math.max(maxBytes, m.lamina_prompt_cache_bytes);
}
const m3 = await metrics(tiny);
check(maxBytes > 0 && maxBytes <= 1 << 20 && m3.lamina_prompt_cache_evictions_total > 0,
      `the 1 MiB cap holds (${maxBytes} bytes at most, ${m3.lamina_prompt_cache_evictions_total} evictions)`);

for (const s of [off, on, tiny]) equal(await s.stop(), 0, "the server exits 0 on SIGTERM");
done();
