// response_format (JSON mode) through OpenAI's Node client, on the demo model
// (1k vocabulary) and on a random-weight model with llama2's 32k vocabulary:
// for 100 seeds each, an output that finishes with "stop" validates against
// its schema (ajv), and the same request cut by max_tokens finishes with
// "length" and is a prefix of it (so a cut output is a prefix of a valid
// one; seeded sampling is deterministic). Bad schemas are 400s naming the
// keyword's path.
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { check, done, lamina, loadOpenAI, model, tokenizer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
let Ajv;
try {
    Ajv = (await import("ajv")).default;
} catch (e) {
    console.log(`SKIPPED: the ajv package is not installed (npm ci in tests/serve): ${e.message}`);
    process.exit(77);
}
const ajv = new Ajv({ strict: false });
const data = join(dirname(model), "..");

// A llama2.c v0 checkpoint with random weights (fixed seed) and a 32000-token
// vocabulary: tiny layers, the 32k classifier is what matters here.
function randomModel(path) {
    const [dim, hidden, layers, heads, vocab, seq] = [64, 128, 1, 4, 32000, 512];
    const sizes = [vocab * dim, layers * dim, layers * dim * dim * 4, layers * dim,
                   layers * hidden * dim * 3, dim, seq * (dim / heads)];
    const n = sizes.reduce((a, b) => a + b, 0);
    const buf = Buffer.alloc(28 + 4 * n);
    [dim, hidden, layers, heads, heads, vocab, seq].forEach((v, i) => buf.writeInt32LE(v, 4 * i));
    let s = 12345;
    const f = new Float32Array(buf.buffer, buf.byteOffset + 28, n);
    for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        f[i] = (s / 2 ** 32 - 0.5) * 2;
    }
    writeFileSync(path, buf);
}

function startServer(modelPath, tokPath) {
    const proc = spawn(lamina, ["serve", modelPath, "-z", tokPath, "--port", "0", "--parallel", "4"],
                       { stdio: ["ignore", "inherit", "pipe"] });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the server did not start in 30 s")), 30000);
        const log = [];
        createInterface({ input: proc.stderr }).on("line", (line) => {
            log.push(line);
            const m = line.match(/listening on http:\/\/([^/]+):(\d+)\//);
            if (m) {
                clearTimeout(timer);
                resolve({ url: `http://127.0.0.1:${m[2]}`, stop: () => proc.kill("SIGTERM") });
            }
        });
        proc.on("exit", (c) => reject(new Error(`the server exited (${c}):\n${log.join("\n")}`)));
    });
}

const person = {
    type: "object",
    properties: {
        name: { type: "string", maxLength: 8 },
        colour: { enum: ["red", "green", "Jerusalem", "the LORD", "thee"] },
        age: { type: "integer" },
        ok: { type: "boolean" },
        tags: { type: "array", items: { type: "string", maxLength: 4 }, maxItems: 2 },
        nick: { type: ["string", "null"], maxLength: 3 },
        score: { type: "number" },
    },
    required: ["name", "colour", "age", "ok", "tags"],
    additionalProperties: false,
};
const schemas = [
    { name: "person", schema: person, seeds: 100 },
    { name: "numbers", schema: { type: "array", items: { type: "number" }, minItems: 1, maxItems: 3 }, seeds: 20 },
    { name: "phrase", schema: { enum: ["In the beginning", "And it came to pass", "the LORD", "thee"] }, seeds: 20 },
];

async function run(client, label, chat, body) {
    if (chat) {
        const r = await client.chat.completions.create({ messages: [{ role: "user", content: "Give JSON." }], ...body });
        return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason };
    }
    const r = await client.completions.create({ prompt: "And God said", ...body });
    return { text: r.choices[0].text, finish: r.choices[0].finish_reason };
}

async function checkModel(label, modelPath, tokPath) {
    const server = await startServer(modelPath, tokPath);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
    MODEL = await modelId(client);
    try {
        for (const s of schemas) {
            const validate = ajv.compile(s.schema);
            const rf = { type: "json_schema", json_schema: { name: s.name, schema: s.schema, strict: true } };
            let valid = 0, stopped = 0, prefixes = 0, bad = [];
            const jobs = [];
            for (let seed = 1; seed <= s.seeds; seed++)
                jobs.push(async () => {
                    const chat = seed % 4 === 0;
                    const body = { model: MODEL, seed, temperature: 1, top_p: 1, response_format: rf };
                    const full = await run(client, label, chat, { ...body, max_tokens: 400 });
                    const cut = await run(client, label, chat, { ...body, max_tokens: 6 });
                    if (full.finish === "stop") {
                        stopped++;
                        let v = null;
                        try { v = JSON.parse(full.text); } catch { /* counted below */ }
                        if (v !== null || full.text === "null") {
                            if (validate(v)) valid++;
                            else bad.push(`seed ${seed}: ${full.text} ${ajv.errorsText(validate.errors)}`);
                        } else bad.push(`seed ${seed}: does not parse: ${full.text}`);
                    }
                    if (cut.finish === "length" && full.text.startsWith(cut.text)) prefixes++;
                    else if (cut.finish === "stop" && cut.text === full.text) prefixes++;
                    else bad.push(`seed ${seed}: cut ${cut.finish} ${JSON.stringify(cut.text)} vs ${JSON.stringify(full.text)}`);
                });
            for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map((j) => j()));
            check(stopped >= s.seeds * 0.9 && valid === stopped,
                  `${label} ${s.name}: ${valid} of ${stopped} stopped outputs (${s.seeds} seeds) validate`, bad.slice(0, 3).join("\n    "));
            check(prefixes === s.seeds, `${label} ${s.name}: every output cut by max_tokens is a prefix of the full one`, bad.slice(0, 3).join("\n    "));
        }
        // json_object: an object (or a prefix of one when cut)
        let objects = 0, total = 0, odd = [];
        for (let seed = 1; seed <= 20; seed++) {
            const r = await run(client, label, false, { model: MODEL, seed, max_tokens: 60, response_format: { type: "json_object" } });
            total++;
            if (r.finish === "stop") {
                try { const v = JSON.parse(r.text); if (v && typeof v === "object" && !Array.isArray(v)) objects++; } catch { /* fails */ }
            } else if (r.finish === "length" && /^[ \t\r\n]*\{/.test(r.text)) objects++;
            if (objects < total) odd.push(`${r.finish} ${JSON.stringify(r.text)}`);
        }
        check(objects === total, `${label} json_object: ${objects} of ${total} outputs are objects or prefixes of one`, odd.slice(0, 3).join("\n    "));
        // the same seed gives the same bytes
        const body = { model: MODEL, seed: 5, max_tokens: 200, response_format: { type: "json_schema", json_schema: { name: "p", schema: person } } };
        const a = await run(client, label, false, body), b = await run(client, label, false, body);
        check(a.text === b.text && a.finish === b.finish, `${label}: seeded JSON output is deterministic`);
        // streamed chat: the same bytes as the whole answer
        const chatBody = { model: MODEL, seed: 9, max_tokens: 200, messages: [{ role: "user", content: "Give JSON." }],
                           response_format: { type: "json_schema", json_schema: { name: "p", schema: person } } };
        const whole = await client.chat.completions.create(chatBody);
        let streamed = "", finish = null;
        for await (const chunk of await client.chat.completions.create({ ...chatBody, stream: true })) {
            streamed += chunk.choices[0]?.delta?.content ?? "";
            finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        check(streamed === whole.choices[0].message.content && finish === whole.choices[0].finish_reason,
              `${label}: a streamed JSON answer equals the whole one`, `${JSON.stringify(streamed)} vs ${JSON.stringify(whole.choices[0].message.content)}`);
        // {"type":"text"} is no constraint
        const t = await run(client, label, false, { model: MODEL, seed: 3, max_tokens: 20, response_format: { type: "text" } });
        const u = await run(client, label, false, { model: MODEL, seed: 3, max_tokens: 20 });
        check(t.text === u.text, `${label}: response_format text is the unconstrained output`);
    } finally {
        server.stop();
    }
    return client;
}

async function expect400(client, what, body, needle) {
    try {
        await client.completions.create({ model: MODEL, prompt: "x", max_tokens: 5, ...body });
        check(false, `${what}: 400`, "the request succeeded");
    } catch (e) {
        check(e instanceof OpenAI.BadRequestError && e.status === 400 && e.message.includes(needle),
              `${what}: 400 naming ${needle}`, `${e.status} ${e.message}`);
    }
}

let MODEL = "";
async function modelId(client) {
    for await (const m of client.models.list()) return m.id;
}

const dir = mkdtempSync(join(tmpdir(), "lamina-json-"));
try {
    await checkModel("demo", model, tokenizer);
    const big = join(dir, "random32k.bin");
    randomModel(big);
    await checkModel("32k", big, join(data, "tokenizers", "llama2-32k.bin"));

    const server = await startServer(model, tokenizer);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
    MODEL = await modelId(client);
    const js = (schema) => ({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } });
    await expect400(client, "pattern", js({ type: "object", properties: { a: { type: "string", pattern: "x+" } } }),
                    "response_format.json_schema.schema.properties.a.pattern': unsupported keyword 'pattern'");
    await expect400(client, "anyOf", js({ anyOf: [{ type: "string" }] }), "unsupported keyword 'anyOf'");
    await expect400(client, "minimum", js({ type: "integer", minimum: 3 }), "unsupported keyword 'minimum'");
    await expect400(client, "a bad type", js({ type: "text" }), "unknown type 'text'");
    await expect400(client, "required not declared", js({ type: "object", required: ["a"] }), "'a' is not in 'properties'");
    await expect400(client, "minItems > maxItems", js({ type: "array", minItems: 2, maxItems: 1 }), "minItems is more than maxItems");
    await expect400(client, "a bad type name", { response_format: { type: "xml" } }, "'xml' is not text, json_object or json_schema");
    await expect400(client, "no schema", { response_format: { type: "json_schema", json_schema: { name: "x" } } }, "no 'schema'");
    await expect400(client, "stop with JSON", { stop: "}", response_format: { type: "json_object" } }, "field 'stop': not with a JSON");
    server.stop();
} finally {
    rmSync(dir, { recursive: true, force: true });
}
done();
