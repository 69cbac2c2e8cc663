// A bounded load test on loopback: 64 concurrent streaming clients send a few
// hundred seeded requests; every stream must arrive whole, under one id of its
// own, with exactly the text the same request gets when it runs alone.
//
//   node load.mjs LAMINA MODEL TOKENIZER            the test (ctest serve.load)
//   node load.mjs LAMINA MODEL TOKENIZER --bench [SERVER ARGS...]
//                                 throughput and latency at 1, 4, 16 and 64 concurrent
//                                 clients (the server runs --parallel 64 and SERVER ARGS)
import { check, done, loadOpenAI, startServer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const MODEL = "kjv1m";
const bench = process.argv.includes("--bench");
const LIMIT_MS = 240000; // the whole test; it takes a few seconds normally

const prompts = [
    "And it came to pass", "In the beginning", "The LORD is my shepherd", "Jesus wept",
    "And God said", "Blessed are the", "Now the serpent was", "And Moses said unto",
];
const specs = [];
for (let i = 0; i < 16; i++)
    specs.push({
        prompt: prompts[i % prompts.length],
        seed: 1000 + 37 * i,
        temperature: [0.7, 1.0, 0, 1.2][i % 4],
        top_p: [0.9, 0.5, 0.9, 0][(i >> 2) % 4],
        max_tokens: 20 + ((i * 29) % 110),
    });

const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// Stream one request; returns its text, ids, usage and timings.
async function run(client, spec, streaming = true) {
    const t0 = performance.now();
    if (!streaming) {
        const r = await client.completions.create({ model: MODEL, ...spec });
        const t = performance.now() - t0;
        return { text: r.choices[0].text, ids: new Set([r.id]), usage: r.usage, finish: r.choices[0].finish_reason, ttft: t, total: t };
    }
    let ttft = null, text = "", finish = null, usage = null;
    const ids = new Set();
    const stream = await client.completions.create({
        model: MODEL, ...spec, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
        ids.add(chunk.id);
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        if (ttft === null && c.text) ttft = performance.now() - t0;
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
    }
    return { text, ids, usage, finish, ttft: ttft ?? performance.now() - t0, total: performance.now() - t0 };
}

// n requests over `concurrency` clients (each a client object of its own, as
// separate processes would be); returns the results in request order.
async function load(url, concurrency, n, specOf, stream = true) {
    const results = new Array(n);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: LIMIT_MS });
        for (let i = next++; i < n; i = next++) {
            try {
                results[i] = await run(client, specOf(i), stream);
            } catch (e) {
                results[i] = { error: e };
            }
        }
    }));
    return { results, wall: (performance.now() - t0) / 1000 };
}

function summary(label, { results, wall }) {
    const ok = results.filter((r) => !r.error);
    const tokens = ok.reduce((s, r) => s + (r.usage?.completion_tokens ?? 0), 0);
    const tot = ok.map((r) => r.total), first = ok.map((r) => r.ttft);
    return {
        label, requests: results.length, errors: results.length - ok.length, wall,
        req_s: results.length / wall, tok_s: tokens / wall,
        p50: pct(tot, 50), p90: pct(tot, 90), p99: pct(tot, 99), ttft50: pct(first, 50), ttft99: pct(first, 99),
    };
}

function row(s) {
    const f = (x) => x.toFixed(0);
    return `| ${s.label} | ${s.requests} | ${s.errors} | ${s.wall.toFixed(2)} | ${s.req_s.toFixed(1)} | ${f(s.tok_s)} | ` +
        `${f(s.ttft50)} / ${f(s.ttft99)} | ${f(s.p50)} / ${f(s.p90)} / ${f(s.p99)} |`;
}
const header = "| clients | requests | errors | wall s | req/s | aggregate tok/s | first token p50 / p99 ms | latency p50 / p90 / p99 ms |\n" +
    "|---|---|---|---|---|---|---|---|";

const watchdog = setTimeout(() => {
    console.log(`FAIL: the load test did not finish within ${LIMIT_MS / 1000} s`);
    console.log("0 passed, 1 failed");
    process.exit(1);
}, LIMIT_MS);

if (bench) {
    // Every request: the same prompt, its own seed, 128 tokens (temperature 1).
    const extra = process.argv.slice(process.argv.indexOf("--bench") + 1);
    const srv = await startServer(["--parallel", "64", "--queue", "256", ...extra]);
    console.error(srv.log.at(-1));
    // The server's CPU time (user + system) from /proc, to tell its cost from the client's.
    const { readFileSync } = await import("node:fs");
    const cpu = () => {
        const f = readFileSync(`/proc/${srv.proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
        return (Number(f[11]) + Number(f[12])) / 100;
    };
    const lines = [];
    for (const stream of [true, false]) {
        for (const c of [1, 4, 16, 64]) {
            const n = Math.max(16, 4 * c);
            const c0 = cpu(), u0 = process.cpuUsage();
            const r = await load(srv.url, c, n, (i) => ({ prompt: "And it came to pass", seed: 1 + i, max_tokens: 128 }), stream);
            const u = process.cpuUsage(u0);
            const s = summary(`${c} ${stream ? "streaming" : "whole"}`, r);
            lines.push(row(s) + ` ${(cpu() - c0).toFixed(1)} / ${((u.user + u.system) / 1e6).toFixed(1)} |`);
            console.error(lines.at(-1));
        }
    }
    await srv.stop();
    console.log(header.replace(" |\n", " | server / client CPU s |\n") + "---|\n" + lines.join("\n"));
    clearTimeout(watchdog);
    process.exit(0);
}

const srv = await startServer(["--parallel", "16", "--queue", "128"]);
// Each request alone first: the reference text.
const solo = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
const want = [];
for (const s of specs) want.push((await run(solo, s)).text);

const N = 256;
const res = await load(srv.url, 64, N, (i) => specs[(i * 7) % specs.length]);
const errors = res.results.filter((r) => r.error);
check(errors.length === 0, `${N} requests over 64 streaming clients: no errors`,
      errors.slice(0, 3).map((r) => String(r.error)).join("\n    "));
const ok = res.results.filter((r) => !r.error);
check(ok.every((r) => r.ids.size === 1 && r.finish !== null && r.usage),
      "every stream has one id, a finish_reason and a usage chunk (none lost or cut)");
const allIds = new Set(ok.map((r) => [...r.ids][0]));
check(allIds.size === ok.length, "no two streams share an id (no mixed-up streams)");
let mismatches = 0, first = null;
res.results.forEach((r, i) => {
    const w = want[(i * 7) % specs.length];
    if (!r.error && r.text !== w) {
        mismatches++;
        first ??= `request ${i}: got ${JSON.stringify(r.text)}\n    want ${JSON.stringify(w)}`;
    }
});
check(mismatches === 0, "every seeded text equals its solo run", `${mismatches} differ; ${first}`);
const m = await (await fetch(`${srv.url}/metrics`)).text();
check(/lamina_active_sequences 0\b/.test(m) && /lamina_queue_depth 0\b/.test(m), "afterwards nothing runs or waits");
check((await srv.stop()) === 0, "exit 0");
const s = summary("64", res);
console.log(`load: ${N} requests, 64 clients, --parallel 16: ${s.wall.toFixed(2)} s, ${s.req_s.toFixed(1)} req/s, ` +
    `${s.tok_s.toFixed(0)} tok/s aggregate; latency p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms ` +
    `(a shared, noisy machine)`);
clearTimeout(watchdog);
done();
