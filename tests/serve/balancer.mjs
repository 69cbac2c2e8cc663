// Several `lamina serve` replicas as one, behind HAProxy (issue 25 item 7),
// on loopback: examples/haproxy/haproxy.cfg as shipped, but for its ports
// (and a stats socket to read the servers' health from). Two replicas A and
// B run streaming clients through it; then
//   1. A is drained (SIGTERM) while streams run on both: A's streams finish,
//      its /health answers 503 on an open port and HAProxy marks it down on
//      that (L7STS 503, not a refused connection), new requests all go to
//      B, and A exits 0 once its last stream is done;
//   2. A is restarted and comes back up; B is killed (SIGKILL) while streams
//      run on both and a whole (non-streamed) answer runs on B: exactly the
//      streams running on B fail (each cut after a prefix of its text), the
//      ones on A finish, the whole answer is run again on A (HAProxy's
//      retry-on empty-response), new requests go to A.
// Every text that completed equals the solo run of its prompt and seed (one
// request at a time against a single server). Each wait is on a state
// (first chunk, health status, exit), bounded; the replicas' engines are
// slowed (LAMINA_SERVE_TEST_STEP_MS) so a stream surely still runs when the
// signal comes. Exit 77 (skipped) where haproxy is not installed
// (tests/install-deps.sh installs it).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { check, done, equal, loadOpenAI, metrics, sleep, startServer } from "./lib.mjs";

const OpenAI = await loadOpenAI();
// Debian puts it in /usr/sbin, which a user's PATH may lack.
const HAPROXY = ["haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => !spawnSync(p, ["-v"]).error);
if (!HAPROXY) {
    console.log("SKIPPED: haproxy is not installed (tests/install-deps.sh installs it)");
    process.exit(77);
}
const MODEL = "kjv1m";
const SLOW = { LAMINA_SERVE_TEST_STEP_MS: "20" };
const WAIT = 30000; // the bound of every wait, in ms
const here = dirname(fileURLToPath(import.meta.url));
const example = readFileSync(join(here, "../../examples/haproxy/haproxy.cfg"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "lamina-balancer-"));
const children = [];
process.on("exit", () => {
    for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
});

// Seeded requests: 200 tokens at 20 ms a step run for 4 s or more. 0-19 are
// streamed, 20 is a whole answer.
const PROMPTS = ["And it came to pass", "In the beginning", "And the LORD said unto Moses",
                 "Blessed are they", "Now these are the generations"];
const specs = Array.from({ length: 21 }, (_, i) => ({
    model: MODEL, prompt: PROMPTS[i % PROMPTS.length], seed: 1000 + i, temperature: 0.9, top_p: 0.9,
    max_tokens: 200,
}));

// The health check's Host is the balancer's public name: the replicas are
// bound to loopback and answer it only with --allow-host (else every check
// gets 403 and no server ever comes up).
const publicName = example.match(/^\s*http-check send hdr Host (\S+)\s*$/m)?.[1];
if (!check(!!publicName, "the example's health check sends a Host")) done();
const replicaArgs = ["--parallel", "8", "--threads", "1", "--allow-host", publicName];

async function freePort() {
    const s = createServer();
    await new Promise((r) => s.listen(0, "127.0.0.1", r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
}

async function startReplica() {
    const srv = await startServer(replicaArgs, SLOW);
    children.push(srv.proc);
    return srv;
}

// ---- HAProxy: the example with this test's ports ----------------------------------
function configure(port, a, b, sock) {
    let cfg = example;
    const swap = (re, to, what) => {
        if (!re.test(cfg)) throw new Error(`examples/haproxy/haproxy.cfg: no ${what} line`);
        cfg = cfg.replace(re, to);
    };
    swap(/^(\s*)bind \S+.*$/m, `$1bind 127.0.0.1:${port}`, "bind");
    swap(/^(\s*)server a \S+/m, `$1server a 127.0.0.1:${a}`, "server a");
    swap(/^(\s*)server b \S+/m, `$1server b 127.0.0.1:${b}`, "server b");
    swap(/^global$/m, `global\n    stats socket ${sock} mode 600 level admin`, "global");
    return cfg;
}

// One command on HAProxy's stats socket; its answer.
function admin(sock, cmd) {
    return new Promise((resolve, reject) => {
        const c = connect(sock, () => c.end(`${cmd}\n`));
        let out = "";
        c.on("data", (d) => (out += d));
        c.on("end", () => resolve(out));
        c.on("error", reject);
    });
}

// The backend's servers as HAProxy sees them: {a: {status, check_status, check_code}, ...}.
async function servers(sock) {
    const lines = (await admin(sock, "show stat")).trim().split("\n");
    const head = lines[0].replace(/^# /, "").split(",");
    const out = {};
    for (const line of lines.slice(1)) {
        const f = line.split(",");
        const row = Object.fromEntries(head.map((h, i) => [h, f[i]]));
        if (row.pxname === "lamina" && row.svname !== "BACKEND") out[row.svname] = row;
    }
    return out;
}

async function waitFor(what, cond, ms = WAIT) {
    const t0 = Date.now();
    for (;;) {
        const v = await cond().catch(() => false);
        if (v) return v;
        if (Date.now() - t0 > ms) return check(false, `${what} (within ${ms / 1000} s)`);
        await sleep(50);
    }
}

const waitServer = (sock, name, status) => waitFor(`HAProxy sees ${name} ${status}`, async () => {
    const s = (await servers(sock))[name];
    return s?.status === status && s;
});

async function startHAProxy(a, b) {
    const sock = join(dir, "haproxy.sock");
    for (let attempt = 0; ; attempt++) { // another test may take the free port first
        const port = await freePort();
        const file = join(dir, "haproxy.cfg");
        writeFileSync(file, configure(port, a.port, b.port, sock));
        const proc = spawn(HAPROXY, ["-f", file, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
        children.push(proc);
        const log = [];
        for (const s of [proc.stdout, proc.stderr])
            s.on("data", (d) => {
                log.push(String(d));
                if (process.env.SERVE_TEST_VERBOSE) process.stderr.write(`[haproxy] ${d}`);
            });
        const exited = new Promise((r) => proc.on("exit", (code) => r(code ?? -1)));
        const up = await Promise.race([
            waitFor("HAProxy answers on its stats socket", () => admin(sock, "show info").then((x) => /Name: HAProxy/.test(x)), 10000),
            exited.then(() => false),
        ]);
        if (up) return { proc, port, sock, log, url: `http://127.0.0.1:${port}`, exited };
        proc.kill("SIGKILL");
        if (attempt === 2) throw new Error(`haproxy did not start:\n${log.join("")}`);
    }
}

// ---- streams through the balancer ------------------------------------------------
// A stream of spec i: resolves `started` with the replica that answers (HAProxy's
// X-Lamina-Replica) once its first chunk is in; `result` with {text, finish, error}.
function stream(client, i) {
    let started;
    const first = new Promise((r) => (started = r));
    const result = (async () => {
        let text = "", finish = null, error = null, replica = null;
        try {
            const { data, response } = await client.completions.create({ ...specs[i], stream: true }).withResponse();
            replica = response.headers.get("x-lamina-replica");
            for await (const chunk of data) {
                const ch = chunk.choices?.[0];
                if (!ch) continue;
                text += ch.text;
                finish = ch.finish_reason ?? finish;
                started(replica);
            }
        } catch (e) {
            error = e;
        }
        started(replica);
        if (process.env.SERVE_TEST_VERBOSE) { // undici's errors name the socket (its local port is in HAProxy's log)
            const sock = JSON.stringify(error?.cause?.socket ?? error?.cause?.cause?.socket ?? "");
            console.error(`[stream ${i}] ${Date.now() % 100000} on ${replica}: ${text.length} bytes, ${finish}, ` +
                          `${error?.message ?? ""} ${error?.cause?.message ?? ""} ${sock}`);
        }
        return { i, replica, text, finish, error };
    })();
    return { i, first, result };
}

// Open streams one after another, each once the one before has its first
// chunk (so leastconn alternates the replicas); resolves with them started.
async function openStreams(client, ids) {
    const out = [];
    for (const i of ids) {
        const s = stream(client, i);
        s.replica = await Promise.race([s.first, sleep(WAIT).then(() => null)]);
        out.push(s);
    }
    return out;
}

const settle = (streams) => Promise.all(streams.map((s) => Promise.race([
    s.result, sleep(WAIT).then(() => ({ i: s.i, replica: s.replica, text: "", finish: null, error: new Error("no end within 30 s") })),
])));
const completed = (r) => !r.error && r.finish !== null;

// ---- solo runs: one request at a time against a single server ----------------------
const solo = [];
{
    const ref = await startServer(["--threads", "1"]);
    children.push(ref.proc);
    const client = new OpenAI({ baseURL: `${ref.url}/v1`, apiKey: "none", maxRetries: 0 });
    for (const spec of specs) {
        let text = "", finish = null;
        for await (const chunk of await client.completions.create({ ...spec, stream: true })) {
            const ch = chunk.choices?.[0];
            if (ch) (text += ch.text), (finish = ch.finish_reason ?? finish);
        }
        solo.push({ text, finish });
    }
    check(solo.every((s) => s.finish === "length"), "solo runs: every seeded text runs its 200 tokens",
          solo.map((s) => s.finish).join(" "));
    check((await ref.stop()) === 0, "solo server: exit 0");
}

let a = await startReplica();
const b = await startReplica();
const lb = await startHAProxy(a, b);
const client = new OpenAI({ baseURL: `${lb.url}/v1`, apiKey: "none", maxRetries: 0 });
const results = [];
const on = (rs, name) => rs.filter((r) => r.replica === name);

try {
    check(!!(await waitServer(lb.sock, "a", "UP")) && !!(await waitServer(lb.sock, "b", "UP")),
          "both replicas up behind HAProxy (health checks with the public Host)");
    // A client that names the balancer's public name is answered too.
    const viaName = await new Promise((resolve) => {
        const req = request({ host: "127.0.0.1", port: lb.port, path: "/v1/models", headers: { Host: publicName } },
                            (res) => { res.resume(); resolve(res.statusCode); });
        req.on("error", (e) => resolve(String(e)));
        req.end();
    });
    equal(viaName, 200, `GET /v1/models with Host: ${publicName} through HAProxy`);

    // ---- 1. drain A while streams run on both --------------------------------------
    const wave1 = await openStreams(client, [0, 1, 2, 3, 4, 5]);
    check(wave1.every((s) => s.replica) && on(wave1, "a").length > 0 && on(wave1, "b").length > 0,
          "wave 1: streams running on both replicas", wave1.map((s) => s.replica).join(" "));
    a.proc.kill("SIGTERM");
    const health = await waitFor("A's /health answers 503 while draining", async () => {
        const r = await fetch(`${a.url}/health`);
        return r.status === 503 && { status: r.status, body: await r.text() };
    });
    equal(health?.body, '{"status":"draining"}', "draining A: its port stays open, /health says draining");
    const direct = await fetch(`${a.url}/v1/completions`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(specs[6]),
    });
    const directBody = await direct.json().catch(() => null);
    check(direct.status === 503 && directBody?.error?.code === "shutting_down",
          "draining A: a request sent to it directly gets 503 shutting_down", `${direct.status} ${JSON.stringify(directBody)}`);
    // New requests through the balancer while A drains: all served by B
    // (HAProxy retries A's 503 on B until its check takes A out).
    const wave2 = await openStreams(client, [6, 7, 8, 9]);
    check(wave2.every((s) => s.replica === "b"), "during the drain: every new request goes to B",
          wave2.map((s) => s.replica).join(" "));
    const down = await waitServer(lb.sock, "a", "DOWN");
    check(down && down.check_status === "L7STS" && down.check_code === "503" && a.exited === null,
          "HAProxy takes A out on its /health 503 while A still runs its streams",
          down && `${down.check_status} ${down.check_code}, A exited: ${a.exited}`);
    const r1 = await settle(wave1);
    results.push(...r1);
    check(r1.every(completed), "wave 1: every stream finishes, the drained replica's included",
          r1.filter((r) => !completed(r)).map((r) => `${r.i} on ${r.replica}: ${r.error ?? "no finish_reason"}`).join("; "));
    const codeA = await Promise.race([a.exit, sleep(WAIT).then(() => "still running")]);
    equal(codeA, 0, "drained A exits 0 once its last stream is done");
    check(/draining: \/health and new requests answer 503/.test(a.log.join("\n")), "A logs the drain");
    results.push(...(await settle(wave2)));

    // ---- 2. A back; kill B while streams run on both ------------------------------
    a = await startReplica();
    await admin(lb.sock, `set server lamina/a addr 127.0.0.1 port ${a.port}`);
    check(!!(await waitServer(lb.sock, "a", "UP")), "restarted A is back up behind HAProxy");
    const wave3 = await openStreams(client, [10, 11, 12, 13, 14, 15]);
    check(wave3.every((s) => s.replica) && on(wave3, "a").length > 0 && on(wave3, "b").length > 0,
          "wave 3: streams running on both replicas", wave3.map((s) => s.replica).join(" "));
    // And a whole (non-streamed) answer on B: A set to HAProxy's drain state
    // for the moment it takes to route it there.
    const streamsOnB = on(wave3, "b").length;
    await admin(lb.sock, "set server lamina/a state drain");
    const whole = client.completions.create(specs[20]).withResponse().catch((e) => ({ error: e }));
    const onBnow = await waitFor("the whole answer runs on B", async () =>
        (await metrics(b)).lamina_active_sequences === streamsOnB + 1);
    await admin(lb.sock, "set server lamina/a state ready");
    if (process.env.SERVE_TEST_VERBOSE) console.error(`[kill] ${Date.now() % 100000}`);
    b.proc.kill("SIGKILL");
    const wave4 = await openStreams(client, [16, 17, 18, 19]);
    const r3 = await settle(wave3);
    results.push(...r3.filter(completed));
    const failed = r3.filter((r) => !completed(r)).map((r) => r.i).sort();
    const onB = on(r3, "b").map((r) => r.i).sort();
    equal(JSON.stringify(failed), JSON.stringify(onB), "SIGKILL B: exactly the streams running on B fail");
    check(on(r3, "b").every((r) => r.text.length < solo[r.i].text.length && solo[r.i].text.startsWith(r.text)),
          "SIGKILL B: each cut stream got a proper prefix of its text");
    const w = await Promise.race([whole, sleep(WAIT).then(() => ({ error: new Error("no answer within 30 s") }))]);
    const wr = { i: 20, replica: w.response?.headers.get("x-lamina-replica"), text: w.data?.choices?.[0]?.text ?? "",
                 finish: w.data?.choices?.[0]?.finish_reason ?? null, error: w.error ?? null };
    results.push(wr);
    check(onBnow && completed(wr) && wr.replica === "a",
          "SIGKILL B: the whole answer B was making is run again on A (nothing of it had been sent)",
          `${wr.replica} ${wr.error}`);
    check(wave4.every((s) => s.replica === "a"), "after the kill: every new request goes to A",
          wave4.map((s) => s.replica).join(" "));
    const r4 = await settle(wave4);
    results.push(...r4);
    check(r4.every(completed), "after the kill: the new requests finish on A",
          r4.filter((r) => !completed(r)).map((r) => `${r.i}: ${r.error}`).join("; "));
    const downB = await waitServer(lb.sock, "b", "DOWN");
    if (process.env.SERVE_TEST_VERBOSE) console.error(await admin(lb.sock, "show stat"), await admin(lb.sock, "show info"));
    check(downB && downB.check_status !== "L7OK", "HAProxy takes B out", downB && downB.check_status);

    // ---- every text that completed equals its solo run ------------------------------
    const wrong = results.filter((r) => completed(r) && (r.text !== solo[r.i].text || r.finish !== solo[r.i].finish));
    check(results.filter(completed).length === specs.length - onB.length && wrong.length === 0,
          `all ${results.filter(completed).length} completed texts equal their solo runs`,
          wrong.map((r) => `spec ${r.i} on ${r.replica}: ${JSON.stringify(r.text.slice(0, 60))}`).join("\n    "));
    equal(await a.stop(), 0, "A: exit 0 on SIGTERM at the end");
} catch (e) {
    check(false, "the balancer test ran to its end", e.stack);
} finally {
    if (process.env.SERVE_TEST_VERBOSE) console.error(lb.log.join(""));
    lb.proc.kill("SIGTERM");
}
done();
