// A client that leaves frees its slot (streaming, waiting for a whole answer,
// or still queued), and SIGTERM drains: the listener stays open, /health and
// new requests answer 503, running requests finish (or are cut after --grace
// with an error event), exit 0. The engine is slowed down
// (LAMINA_SERVE_TEST_STEP_MS) so a request surely still runs when the client
// leaves or the signal comes; nothing here asserts a duration.
import { connect } from "node:net";
import { check, cli, done, equal, loadOpenAI, sleep, startServer, waitMetrics } from "./lib.mjs";

const OpenAI = await loadOpenAI();
const MODEL = "kjv1m";
const SLOW = { LAMINA_SERVE_TEST_STEP_MS: "20" };

async function firstChunk(stream) {
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    return { it, first: first.value };
}

// ---- disconnects ----------------------------------------------------------------
{
    const srv = await startServer(["--parallel", "1", "--queue", "4"], SLOW);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const req = { model: MODEL, prompt: "And it came to pass", max_tokens: 200, seed: 9 };

    // A stream whose reader goes away after the first chunk.
    let ac = new AbortController();
    const { first } = await firstChunk(await client.completions.create({ ...req, stream: true }, { signal: ac.signal }));
    check(first?.choices?.[0]?.text !== undefined, "disconnect: the stream started");
    ac.abort();
    let m = await waitMetrics(srv, (x) => x.lamina_active_sequences === 0 && x.lamina_generated_tokens_total > 0);
    check(m.lamina_active_sequences === 0, "disconnect mid-stream: the slot is free again");
    check(m.lamina_generated_tokens_total < 200, "disconnect mid-stream: generation stopped early",
          `${m.lamina_generated_tokens_total} tokens`);
    let before = m.lamina_generated_tokens_total;

    // A client waiting for a whole (non-streamed) answer: its connection is
    // suspended in the server, which must notice the socket closing.
    ac = new AbortController();
    const pending = client.completions.create(req, { signal: ac.signal }).catch((e) => e);
    await waitMetrics(srv, (x) => x.lamina_active_sequences === 1);
    await sleep(100);
    ac.abort();
    check((await pending) instanceof OpenAI.APIUserAbortError, "disconnect while waiting: the client aborted");
    m = await waitMetrics(srv, (x) => x.lamina_active_sequences === 0);
    check(m.lamina_active_sequences === 0, "disconnect while waiting: the slot is free again");
    check(m.lamina_generated_tokens_total - before < 200, "disconnect while waiting: generation stopped early",
          `${m.lamina_generated_tokens_total - before} tokens`);

    // A queued client that leaves before it gets a slot.
    const holder = new AbortController();
    const running = await firstChunk(await client.completions.create({ ...req, stream: true }, { signal: holder.signal }));
    void running;
    ac = new AbortController();
    const queued = client.completions.create(req, { signal: ac.signal }).catch((e) => e);
    m = await waitMetrics(srv, (x) => x.lamina_queue_depth === 1);
    check(m.lamina_queue_depth === 1, "a second request waits in the queue");
    ac.abort();
    await queued;
    m = await waitMetrics(srv, (x) => x.lamina_queue_depth === 0);
    check(m.lamina_queue_depth === 0 && m.lamina_active_sequences === 1, "a queued client that leaves leaves the queue");
    holder.abort();
    m = await waitMetrics(srv, (x) => x.lamina_active_sequences === 0);
    check(m.lamina_active_sequences === 0, "and the running one frees its slot when it leaves");

    // The slot really is usable: a full request completes.
    const r = await client.completions.create({ ...req, max_tokens: 20 });
    check(r.usage.completion_tokens === 20, "a request after the disconnects completes");
    const log = srv.log.join("\n");
    check(/"POST \/v1\/completions" 200 \d+ [0-9.]+s \(client closed/.test(log) || /499/.test(log),
          "the access log records the clients that left", log);
    check((await srv.stop()) === 0, "exit 0");
}

// ---- a stalled client is timed out and never holds a slot --------------------------
{
    const srv = await startServer(["--parallel", "1", "--timeout", "1"]);
    const closed = (sock) => new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), 30000);
        sock.on("close", () => { clearTimeout(t); resolve(true); });
        sock.on("error", () => {});
    });
    // Headers, then half a body, then nothing.
    const a = connect(srv.port, "127.0.0.1", () =>
        a.write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":"));
    // Half a request line, then nothing.
    const b = connect(srv.port, "127.0.0.1", () => b.write("POST /v1/comp"));
    const [ca, cb] = await Promise.all([closed(a), closed(b)]);
    check(ca, "a client that stalls mid-body is disconnected by the server (--timeout)");
    check(cb, "a client that stalls mid-headers is disconnected too");
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const r = await client.completions.create({ model: MODEL, prompt: "And", max_tokens: 5, seed: 1 });
    check(r.usage.completion_tokens === 5, "the only slot was free all along");
    check((await srv.stop()) === 0, "exit 0");
}

// ---- SIGTERM drains -------------------------------------------------------------------
{
    const srv = await startServer(["--parallel", "2", "--grace", "60"], SLOW);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const c = { prompt: "And it came to pass", seed: 21, temperature: 0.9, top_p: 0.9, max_tokens: 60 };
    const stream = await client.completions.create({ model: MODEL, ...c, echo: true, stream: true });
    const whole = client.completions.create({ model: MODEL, ...c, seed: 22, echo: true });
    const { it, first } = await firstChunk(stream);
    let text = first.choices[0].text;
    const m = await waitMetrics(srv, (x) => x.lamina_active_sequences === 2);
    check(m.lamina_active_sequences === 2, "both requests run before the signal");
    srv.proc.kill("SIGTERM");
    // The listener stays open while draining (issue 25: a balancer's health
    // check must read 503, not a refused connection): /health and new
    // generation requests answer 503 on fresh connections.
    let h = null;
    for (let t0 = Date.now(); Date.now() - t0 < 10000; await sleep(20)) {
        h = await fetch(`${srv.url}/health`).catch((e) => e);
        if (h instanceof Error || h.status !== 200) break;
    }
    check(!(h instanceof Error) && h.status === 503, "after SIGTERM: the listener stays open and /health answers 503",
          String(h?.status ?? h));
    equal(JSON.stringify(await h.json?.().catch(() => null)), '{"status":"draining"}', "after SIGTERM: /health says draining");
    check(h.headers?.get("connection") === "close", "after SIGTERM: /health closes its connection");
    const late = await client.completions.create({ model: MODEL, prompt: "And", max_tokens: 5, seed: 1 }).catch((e) => e);
    check(late instanceof OpenAI.APIError && late.status === 503 && late.code === "shutting_down",
          "after SIGTERM: a new request gets 503 (shutting_down)", String(late));
    check(late?.headers?.get?.("retry-after") === "1", "after SIGTERM: the 503 carries Retry-After");
    let finish = null;
    for (let x = await it.next(); !x.done; x = await it.next()) {
        const ch = x.value.choices[0];
        if (ch) {
            text += ch.text;
            finish = ch.finish_reason ?? finish;
        }
    }
    const w = await whole;
    const steps = w.usage.prompt_tokens + c.max_tokens - 1;
    equal(text + "\n", cli(c.prompt, { ...c, steps }), "SIGTERM: the running stream finishes with the CLI's text");
    check(finish !== null, "SIGTERM: the stream ends with a finish_reason");
    equal(w.choices[0].text + "\n", cli(c.prompt, { ...c, seed: 22, steps }), "SIGTERM: the running whole answer too");
    check((await srv.exit) === 0, "SIGTERM: exit 0 once they are done");
}

// ---- SIGTERM with a grace period that runs out ---------------------------------------------
{
    const srv = await startServer(["--parallel", "1", "--grace", "1"], SLOW);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const stream = await client.completions.create({ model: MODEL, prompt: "And", max_tokens: 250, seed: 4, stream: true });
    const { it } = await firstChunk(stream);
    srv.proc.kill("SIGTERM");
    let error = null;
    try {
        for (let x = await it.next(); !x.done; x = await it.next());
    } catch (e) {
        error = e;
    }
    check(error instanceof OpenAI.APIError && /stopped/.test(error.message),
          "grace over: the cut stream ends with an error event the client raises", String(error));
    check((await srv.exit) === 0, "grace over: exit 0");
}
// ---- a second signal while draining stops at once ---------------------------------------------
{
    const srv = await startServer(["--parallel", "1", "--grace", "600"], SLOW);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
    const stream = await client.completions.create({ model: MODEL, prompt: "And", max_tokens: 250, seed: 4, stream: true });
    const { it } = await firstChunk(stream);
    srv.proc.kill("SIGTERM");
    await sleep(200);
    srv.proc.kill("SIGINT");
    check((await srv.exit) === 1, "a second signal while draining: exit 1 at once");
    try { for (let x = await it.next(); !x.done; x = await it.next()); } catch { /* cut */ }
}
done();
