// Shared by the `lamina serve` tests: starting a server on a free port,
// running the CLI for reference text, checks that count and report.
// Each test is `node TEST.mjs LAMINA MODEL TOKENIZER` (run.sh checks that node
// and the openai package are there, else the test is reported skipped).
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";

export const [lamina, model, tokenizer] = process.argv.slice(2);
if (!lamina || !model || !tokenizer) {
    console.error("usage: node TEST.mjs LAMINA MODEL TOKENIZER");
    process.exit(2);
}

export async function loadOpenAI() {
    try {
        return (await import("openai")).default;
    } catch (e) {
        console.log(`SKIPPED: the openai package is not installed (npm ci in tests/serve): ${e.message}`);
        process.exit(77);
    }
}

let passed = 0,
    failed = 0;
export function check(ok, what, detail = "") {
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? "ok" : "FAIL"}: ${what}${!ok && detail ? `\n    ${detail}` : ""}`);
    return ok;
}
export function equal(got, want, what) {
    return check(got === want, what, `got  ${JSON.stringify(got)}\n    want ${JSON.stringify(want)}`);
}
export function done() {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start `lamina serve MODEL -z TOKENIZER --port 0 ARGS...`; resolves once it
// logs the port it listens on. stop() sends SIGTERM and resolves with the exit
// code. The log lines are kept in server.log.
export function startServer(args = [], env = {}) {
    const proc = spawn(lamina, ["serve", model, "-z", tokenizer, "--port", "0", ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "inherit", "pipe"],
    });
    const server = { proc, log: [], exited: null };
    server.exit = new Promise((resolve) => proc.on("exit", (code, sig) => resolve(code ?? sig)));
    server.exit.then((c) => (server.exited = c));
    const lines = createInterface({ input: proc.stderr });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the server did not start in 30 s")), 30000);
        lines.on("line", (line) => {
            server.log.push(line);
            if (process.env.SERVE_TEST_VERBOSE) console.error(`[server] ${line}`);
            const m = line.match(/listening on http:\/\/([^/]+):(\d+)\//);
            if (m) {
                clearTimeout(timer);
                server.port = Number(m[2]);
                server.url = `http://127.0.0.1:${server.port}`;
                server.stop = async () => {
                    if (server.exited === null) proc.kill("SIGTERM");
                    return server.exit;
                };
                resolve(server);
            }
        });
        server.exit.then((c) => {
            clearTimeout(timer);
            reject(new Error(`the server exited (${c}) before listening:\n${server.log.join("\n")}`));
        });
    });
}

// What `lamina MODEL -i PROMPT -s S -t T -p P -n N` prints.
export function cli(prompt, { seed, temperature, top_p, steps }) {
    const r = spawnSync(
        lamina,
        [model, "-z", tokenizer, "-i", prompt, "-s", String(seed), "-t", String(temperature),
         "-p", String(top_p), "-n", String(steps)],
        { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`lamina exited ${r.status}: ${r.stderr}`);
    return r.stdout;
}

// The server's Prometheus text as {name or name{labels}: value}.
export async function metrics(server) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const out = {};
    for (const line of text.split("\n")) {
        const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) ([0-9.eE+-]+)$/);
        if (m) out[m[1]] = Number(m[2]);
    }
    return out;
}

// Poll until cond(metrics) holds (or give up after ms); returns the last metrics.
export async function waitMetrics(server, cond, ms = 10000) {
    const t0 = Date.now();
    let m = await metrics(server);
    while (!cond(m) && Date.now() - t0 < ms) {
        await sleep(20);
        m = await metrics(server);
    }
    return m;
}
