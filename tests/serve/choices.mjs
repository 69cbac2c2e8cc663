// `n` choices through OpenAI's Node client: n = 4 gives, as choices[i], what
// 4 single requests with seeds seed + i give (completions and chat, streamed
// and not); usage counts the prompt once; the prompt is computed once
// (/metrics); bad n is a 400 naming the field.
import { check, done, equal, loadOpenAI, metrics, startServer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const MODEL = "kjv1m";
const server = await startServer(["--parallel", "6", "--prompt-cache-mb", "0"]);
process.on("uncaughtException", (e) => {
    console.log(`FAIL: ${e.stack}`);
    server.proc.kill("SIGKILL");
    process.exit(1);
});
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0, timeout: 60000 });

// The choices of one response (streamed: gathered by index), as [text, finish].
async function choices(kind, req, stream) {
    const api = kind === "chat" ? client.chat.completions : client.completions;
    const textOf = (c) => (kind === "chat" ? (stream ? c.delta.content ?? "" : c.message.content) : c.text);
    if (!stream) {
        const r = await api.create(req);
        return { list: r.choices.map((c) => [c.index, textOf(c), c.finish_reason]), usage: r.usage };
    }
    const by = new Map();
    let usage = null, order = true;
    const s = await api.create({ ...req, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of s) {
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
            const e = by.get(c.index) ?? [c.index, "", null];
            if (e[2] !== null) order = false; // text after the choice's finish chunk
            e[1] += textOf(c);
            if (c.finish_reason) e[2] = c.finish_reason;
            by.set(c.index, e);
        }
    }
    check(order, `${kind} stream: no chunk of a choice after its finish_reason`);
    return { list: [...by.values()].sort((a, b) => a[0] - b[0]), usage };
}

const cases = [
    ["completion", { model: MODEL, prompt: "And it came to pass, when", seed: 31, temperature: 0.9, top_p: 0.9, max_tokens: 40 }],
    ["completion", { model: MODEL, prompt: "In the beginning", seed: 77, temperature: 1.0, max_tokens: 30, stop: [","] }],
    ["chat", { model: MODEL, messages: [{ role: "user", content: "Who was David?" }], seed: 5, temperature: 0.8, max_tokens: 25 }],
];
for (const [kind, req] of cases)
    for (const stream of [false, true]) {
        const before = await metrics(server);
        const many = await choices(kind, { ...req, n: 4 }, stream);
        const mid = await metrics(server);
        const singles = [];
        let completion = 0, prompt = 0;
        for (let i = 0; i < 4; i++) {
            const one = await choices(kind, { ...req, seed: req.seed + i }, stream);
            singles.push([i, one.list[0][1], one.list[0][2]]);
            completion += one.usage.completion_tokens;
            prompt = one.usage.prompt_tokens;
        }
        const what = `${kind}${stream ? " streamed" : ""}`;
        equal(JSON.stringify(many.list), JSON.stringify(singles), `${what}: n = 4 equals 4 requests with seeds seed + i`);
        equal(JSON.stringify(many.usage), JSON.stringify({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }),
              `${what}: usage counts the prompt once and every choice's tokens`);
        const computed = mid.lamina_prompt_tokens_computed_total - before.lamina_prompt_tokens_computed_total;
        equal(computed, prompt + 3, `${what}: the prompt of ${prompt} tokens is computed once (the other 3 choices feed its last token)`);
    }

// n = 1 (and absent) keeps the one-choice shape
const one = await client.completions.create({ model: MODEL, prompt: "Jesus wept", seed: 3, max_tokens: 5, n: 1 });
check(one.choices.length === 1 && one.choices[0].index === 0, "n = 1: one choice");

async function expect400(what, req, kind = "completion") {
    const api = kind === "chat" ? client.chat.completions : client.completions;
    try {
        await api.create(req);
        check(false, `${what}: 400`, "the request succeeded");
    } catch (e) {
        check(e instanceof OpenAI.BadRequestError && e.param === "n" && /'n'/.test(e.message),
              `${what}: 400 naming n (${e.message})`, `${e.status} ${e.message} param=${e.param}`);
    }
}
await expect400("n = 0", { model: MODEL, prompt: "x", n: 0 });
await expect400("n = 17", { model: MODEL, prompt: "x", n: 17 });
await expect400("n = 2.5", { model: MODEL, prompt: "x", n: 2.5 });
await expect400("n as a string", { model: MODEL, prompt: "x", n: "2" });
await expect400("n over --parallel", { model: MODEL, messages: [{ role: "user", content: "x" }], n: 7 }, "chat");

equal(await server.stop(), 0, "the server exits 0 on SIGTERM");
done();
