// Kernel micro-benchmarks (Google Benchmark): every operation of the kernel
// table, for every table in lm_kernel_tables that this CPU runs, at the shapes
// of stories260K/15M/42M/110M and Llama-2-7B. bench/README.md explains the output.
//
// Names:  <kernel>/<isa>/<model>.<tensor>[/T<rows>]/threads:<n>/real_time
//   e.g.  matmul_f32/avx2/110M.w1/T1/threads:2/real_time
// Attention runs at n_pos 64, 128, 256, 512 and seq_len (those up to seq_len);
// attention_long at 4k, 16k and 32k positions with fp32 and F16 KV caches.
// A table the CPU cannot run registers one benchmark, unsupported/<isa>, that
// reports the missing feature through SkipWithError.
//
// Cache policy: weights (and the KV cache of attention) are windows into one
// pool of at least twice the last-level cache, and every iteration moves to
// the next window, so a product streams its weights from memory as decoding
// does for a model larger than the LLC. Activations stay in one warm buffer,
// as in the engine. LAMINA_BENCH_POOL_MB overrides the pool size (a pool
// smaller than the weights measures cache-resident weights).
//
// Threads: like forward.c, one `#pragma omp parallel` per call, each thread
// computing its share of output rows cut at multiples of LM_ROW_BLOCK
// (attention: a share of the heads). Elementwise kernels run on one thread.
//
// Default run: --benchmark_min_time=0.1 (unless given); T=64 products run at
// the stories shapes; LAMINA_BENCH_FULL=1 adds T=64 at 7B. F16 products
// (matmul_f16, 2 bytes a weight) run at 110M and 7B, BF16 at 110M. The classifier runs
// at T=1 only, as in the engine (it sees the last prompt token only).
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "dispatch.h"
#include "kernels.h"
#include "pack.h"
#include "qtypes.h"
}
#include "lamina.h"

namespace {

struct Shape {
    std::string name;
    int dim, hidden, n_heads, seq_len;
    int gs; // the exporter's Q8_0 group size (stories260K: 4, as hidden is 172)
};

// The shapes lamina knows by name (lm_config_presets), built once.
const std::vector<Shape> &shapes() {
    static const std::vector<Shape> all = [] {
        std::vector<Shape> v;
        std::string names = lm_config_presets();
        for (size_t at = 0; at < names.size();) {
            size_t end = names.find(' ', at);
            if (end == std::string::npos) end = names.size();
            std::string name = names.substr(at, end - at);
            lm_config c;
            if (lm_config_preset(name.c_str(), &c) == 0)
                v.push_back({name, c.dim, c.hidden_dim, c.n_heads, c.seq_len,
                             lm_q8_group_size(c.dim, c.hidden_dim)});
            at = end + 1;
        }
        return v;
    }();
    return all;
}
constexpr int kVocab = 32000;

uint64_t rng_state = 0x2545F4914F6CDD1Dull;
float rand_unit() { // uniform in [-1, 1)
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23)) - 1.0);
}

void *aligned(size_t bytes) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64)) {
        std::fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", bytes);
        std::exit(1);
    }
    return p;
}

// x with its low 16 bits replaced by sign | exponent 14 or 15 | random
// mantissa: still a float in [-1, 1), and (little-endian) its low half is a
// normal half in [0.5, 2) and a normal bfloat16 in [2^-15, 1), so that pool
// windows are also sane F16 / BF16 panels (no subnormals to slow them down).
float with_low_half(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    uint32_t h = (uint32_t)(rng_state >> 40);
    u = (u & 0xffff0000u) | (h & 0x8000u) | (14u + (h >> 16 & 1u)) << 10 | (h & 0x3ffu);
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// The weight pool: floats in [-1, 1) (so any window is valid fp32 data, valid
// int8 data and valid Q8 scales), read through rotating windows.
struct Pool {
    char *base = nullptr;
    size_t bytes = 0;
    size_t llc = 0;

    void init(size_t largest) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        llc = l3 > 0 ? (size_t)l3 : (size_t)32 << 20;
        bytes = std::max({2 * llc, (size_t)64 << 20, largest + ((size_t)1 << 20)});
        if (const char *env = std::getenv("LAMINA_BENCH_POOL_MB"))
            if (std::atol(env) > 0) bytes = std::max((size_t)std::atol(env) << 20, largest + 4096);
        base = (char *)aligned(bytes);
        float *f = (float *)base;
        for (size_t i = 0; i < bytes / sizeof(float); i++) f[i] = with_low_half(rand_unit());
    }
};
Pool pool;

// Successive windows of `bytes` (64-byte aligned) that wrap around the pool.
struct Rotor {
    size_t need, offset = 0;
    explicit Rotor(size_t bytes) : need((bytes + 63) / 64 * 64) {}
    char *next() {
        if (offset + need > pool.bytes) offset = 0;
        char *p = pool.base + offset;
        offset += need;
        return p;
    }
};

// This thread's rows [*a, *b) of n, cut at multiples of `block` (forward.c).
void share(int n, int block, int *a, int *b) {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int chunk = (n + nt - 1) / nt;
    chunk = (chunk + block - 1) / block * block;
    *a = std::min(t * chunk, n);
    *b = std::min(*a + chunk, n);
}

void set_rates(benchmark::State &state, double flop, double bytes) {
    double it = (double)state.iterations();
    state.counters["flops"] = benchmark::Counter(flop * it, benchmark::Counter::kIsRate);
    state.counters["bytes"] = benchmark::Counter(bytes * it, benchmark::Counter::kIsRate);
}

// ---- products ------------------------------------------------------------

// The products read weights packed into panels (kernels/pack.h). Any bytes are
// valid panels (fp32 values, int8 values and scales from the pool), so a window
// of the pool is used as a packed matrix as it is, without packing it.
lm_packed packed_window(char *p, int d, int n, int gs) {
    lm_packed w{};
    w.rows = d, w.cols = n, w.gs = gs;
    if (!gs) {
        w.f32 = (const float *)p;
    } else if (lm_pack_q8_panels(n, gs)) {
        size_t cells = ((size_t)d + LM_PANEL - 1) / LM_PANEL * LM_PANEL * (size_t)n;
        w.q = (const int8_t *)p;
        w.s = (const float *)(p + (cells + 63) / 64 * 64);
    } else {
        size_t cells = (size_t)d * n;
        w.flat = {(const int8_t *)p, (const float *)(p + (cells + 63) / 64 * 64), gs};
    }
    return w;
}

// y (T, d) = x (T, n) w^T with w (d, n) of F16 or BF16 values (2 bytes each).
void bm_matmul_16(benchmark::State &state, const lm_kernels *k, int d, int n, int T, bool bf16,
                  int threads) {
    const lm_wtype type = bf16 ? LM_WT_BF16 : LM_WT_F16;
    const auto mm = bf16 ? k->matmul_bf16 : k->matmul_f16;
    Rotor rot(lm_pack_bytes_type(type, d, n, 0));
    std::vector<float> x((size_t)T * n), y((size_t)T * d);
    for (auto &v : x) v = rand_unit();
    for (auto _ : state) {
        lm_packed w{};
        w.rows = d, w.cols = n, w.type = type, w.h = (const uint16_t *)rot.next();
        if (threads == 1) {
            mm(y.data(), x.data(), &w, T, 0, d);
        } else {
#pragma omp parallel num_threads(threads)
            {
                int r0, r1;
                share(d, LM_ROW_BLOCK, &r0, &r1);
                if (r0 < r1) mm(y.data(), x.data(), &w, T, r0, r1);
            }
        }
        benchmark::ClobberMemory();
    }
    set_rates(state, 2.0 * T * d * n, 2.0 * d * n + 4.0 * T * n);
}

// y (T, d) = x (T, n) w^T with w (d, n).
void bm_matmul_f32(benchmark::State &state, const lm_kernels *k, int d, int n, int T, int threads) {
    Rotor rot(lm_pack_bytes(d, n, 0));
    std::vector<float> x((size_t)T * n), y((size_t)T * d);
    for (auto &v : x) v = rand_unit();
    for (auto _ : state) {
        const lm_packed w = packed_window(rot.next(), d, n, 0);
        if (threads == 1) {
            k->matmul_f32(y.data(), x.data(), &w, T, 0, d);
        } else {
#pragma omp parallel num_threads(threads)
            {
                int r0, r1;
                share(d, LM_ROW_BLOCK, &r0, &r1);
                if (r0 < r1) k->matmul_f32(y.data(), x.data(), &w, T, r0, r1);
            }
        }
        benchmark::ClobberMemory();
    }
    set_rates(state, 2.0 * T * d * n, 4.0 * d * n + 4.0 * T * n);
}

void bm_matmul_q8(benchmark::State &state, const lm_kernels *k, int d, int n, int T, int gs,
                  int threads) {
    size_t sbytes = (size_t)d * n / gs * sizeof(float);
    Rotor rot(lm_pack_bytes(d, n, gs));
    int groups = lm_q8_groups(n, gs);
    std::vector<float> x((size_t)T * n), y((size_t)T * d);
    std::vector<int8_t> xq((size_t)T * n);
    std::vector<float> xs((size_t)T * groups);
    for (auto &v : x) v = rand_unit();
    for (int t = 0; t < T; t++)
        k->quantize_q8(xq.data() + (size_t)t * n, xs.data() + (size_t)t * groups,
                       x.data() + (size_t)t * n, n, gs);
    lm_q8_act act = {xq.data(), xs.data(), gs};
    for (auto _ : state) {
        const lm_packed w = packed_window(rot.next(), d, n, gs);
        if (threads == 1) {
            k->matmul_q8(y.data(), &act, &w, T, 0, d);
        } else {
#pragma omp parallel num_threads(threads)
            {
                int r0, r1;
                share(d, LM_ROW_BLOCK, &r0, &r1);
                if (r0 < r1) k->matmul_q8(y.data(), &act, &w, T, r0, r1);
            }
        }
        benchmark::ClobberMemory();
    }
    double act_bytes = (double)T * n + 4.0 * T * groups;
    set_rates(state, 2.0 * T * d * n, (double)d * n + (double)sbytes + act_bytes);
}

// The same on a ggml block type (kernels/qtypes.h): its panels are any bytes
// whose halves are finite (the pool's low halves are normal, its high halves
// a float's sign and exponent), so a pool window is used as packed panels.
void bm_matmul_blk(benchmark::State &state, const lm_kernels *k, lm_wtype type, int d, int n, int T,
                   int threads) {
    const lm_qtype *qt = lm_qtype_of(type);
    const lm_matmul_blk_fn mm = lm_kernels_blk(k, type);
    if (!qt || !qt->pack_bytes || !mm) {
        state.SkipWithError("no product for this type in this table");
        return;
    }
    const int gs = qt->act_gs, groups = lm_q8_groups(n, gs);
    const size_t wbytes = qt->pack_bytes(d, n);
    Rotor rot(wbytes);
    std::vector<float> x((size_t)T * n), y((size_t)T * d);
    std::vector<int8_t> xq((size_t)T * n);
    std::vector<float> xs((size_t)T * groups);
    for (auto &v : x) v = rand_unit();
    for (int t = 0; t < T; t++)
        k->quantize_q8(xq.data() + (size_t)t * n, xs.data() + (size_t)t * groups,
                       x.data() + (size_t)t * n, n, gs);
    lm_q8_act act = {xq.data(), xs.data(), gs};
    for (auto _ : state) {
        lm_packed w{};
        w.rows = d, w.cols = n, w.type = type;
        w.blk = (const uint8_t *)rot.next(), w.blk_bytes = wbytes;
        if (threads == 1) {
            mm(y.data(), &act, &w, T, 0, d);
        } else {
#pragma omp parallel num_threads(threads)
            {
                int r0, r1;
                share(d, LM_ROW_BLOCK, &r0, &r1);
                if (r0 < r1) mm(y.data(), &act, &w, T, r0, r1);
            }
        }
        benchmark::ClobberMemory();
    }
    set_rates(state, 2.0 * T * d * n, (double)wbytes + (double)T * n + 4.0 * T * groups);
}

// ---- per-token kernels (one thread, warm activations) ----------------------

void bm_quantize(benchmark::State &state, const lm_kernels *k, int n, int gs) {
    std::vector<float> x(n), s(lm_q8_groups(n, gs));
    std::vector<int8_t> q(n);
    for (auto &v : x) v = rand_unit();
    for (auto _ : state) {
        k->quantize_q8(q.data(), s.data(), x.data(), n, gs);
        benchmark::ClobberMemory();
    }
    set_rates(state, 3.0 * n, 4.0 * n);
}

void bm_rmsnorm(benchmark::State &state, const lm_kernels *k, int n) {
    std::vector<float> x(n), w(n), o(n);
    for (auto &v : x) v = rand_unit();
    for (auto &v : w) v = rand_unit();
    for (auto _ : state) {
        k->rmsnorm(o.data(), x.data(), w.data(), n, 1e-5f);
        benchmark::ClobberMemory();
    }
    set_rates(state, 4.0 * n, 8.0 * n);
}

void bm_softmax(benchmark::State &state, const lm_kernels *k, int n) {
    // In place; repeated softmax stays in (0, 1], so no refresh is needed.
    std::vector<float> x(n);
    for (auto &v : x) v = 8 * rand_unit();
    for (auto _ : state) {
        k->softmax(x.data(), n);
        benchmark::ClobberMemory();
    }
    set_rates(state, 4.0 * n, 4.0 * n);
}

void bm_rope(benchmark::State &state, const lm_kernels *k, int n, int head_size) {
    // A rotation keeps the norm, so repeating it in place is harmless.
    std::vector<float> v(n), cs(head_size);
    for (auto &e : v) e = rand_unit();
    for (int i = 0; i < head_size; i += 2) {
        double a = 0.37 * (i + 1);
        cs[i] = (float)std::cos(a), cs[i + 1] = (float)std::sin(a);
    }
    for (auto _ : state) {
        k->rope(v.data(), n, head_size, cs.data());
        benchmark::ClobberMemory();
    }
    set_rates(state, 3.0 * n, 4.0 * n + 4.0 * head_size);
}

void bm_swiglu(benchmark::State &state, const lm_kernels *k, int n) {
    // In place, and repeating silu(a) * b would drift into denormals: each
    // iteration takes the next of `bank` fresh copies; refills are untimed.
    const int bank = 64;
    std::vector<float> fresh(n), a((size_t)bank * n), b(n);
    for (auto &v : fresh) v = 4 * rand_unit();
    for (auto &v : b) v = rand_unit();
    int i = bank;
    for (auto _ : state) {
        if (i == bank) {
            state.PauseTiming();
            for (int j = 0; j < bank; j++)
                std::memcpy(&a[(size_t)j * n], fresh.data(), n * sizeof(float));
            i = 0;
            state.ResumeTiming();
        }
        k->swiglu(&a[(size_t)i++ * n], b.data(), n);
        benchmark::ClobberMemory();
    }
    set_rates(state, 6.0 * n, 8.0 * n);
}

// One token's attention over n_pos cached positions, all heads of a layer; the
// K and V caches are pool windows, heads are split across threads.
void bm_attention(benchmark::State &state, const lm_kernels *k, const Shape &s, int n_pos,
                  int threads) {
    int hs = s.dim / s.n_heads, stride = s.dim;
    size_t cache = (size_t)n_pos * stride * sizeof(float);
    Rotor rot(2 * cache);
    std::vector<float> q(s.dim), out(s.dim), att((size_t)threads * n_pos);
    for (auto &v : q) v = rand_unit();
    for (auto _ : state) {
        char *p = rot.next();
        const float *kc = (const float *)p, *vc = (const float *)(p + cache);
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
            int a, b;
            share(s.n_heads, 1, &a, &b);
            float *sc = att.data() + (size_t)omp_get_thread_num() * n_pos;
            for (int h = a; h < b; h++)
                k->attention(out.data() + h * hs, q.data() + h * hs, kc + h * hs, vc + h * hs, sc,
                             n_pos, hs, stride);
        }
        benchmark::ClobberMemory();
    }
    set_rates(state, (4.0 * hs + 5.0) * n_pos * s.n_heads, 8.0 * n_pos * hs * s.n_heads);
}

// Long contexts (issue 24): one decode step's attention over a filled cache
// of n_pos = 4k, 16k, 32k positions, all 32 query heads of one layer of
// Llama 3 8B's shape (head size 128, 8 KV heads: GQA 4:1), with an fp32 and
// an F16 cache. The cache is one buffer of the largest size (256 MiB: past
// any LLC at 32k; at 4k, 32 MiB may partly stay in a large LLC), filled once
// with finite values. "bytes" counts the KV bytes one step reads (each KV
// head once), so its rate is the GB/s of KV read; the time is per layer.
const int kLongHeads = 32, kLongKvHeads = 8, kLongHs = 128;

void *long_cache(size_t bytes) {
    static char *buf = nullptr;
    static size_t have = 0;
    if (bytes > have) {
        std::free(buf);
        buf = (char *)aligned(bytes);
        for (size_t i = 0; i < bytes / sizeof(float); i++)
            ((float *)buf)[i] = with_low_half(rand_unit());
        have = bytes;
    }
    return buf;
}

void bm_attention_long(benchmark::State &state, const lm_kernels *k, int n_pos, bool f16,
                       int threads) {
    const int kv_dim = kLongKvHeads * kLongHs, group = kLongHeads / kLongKvHeads;
    const size_t elem = f16 ? 2 : 4, half = (size_t)n_pos * kv_dim * elem;
    char *cache = (char *)long_cache((size_t)n_pos * kv_dim * 8); // the f32 size: one buffer
    std::vector<float> q(kLongHeads * kLongHs), out(q.size()), att((size_t)threads * n_pos);
    for (auto &v : q) v = rand_unit();
    for (auto _ : state) {
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
            int a, b;
            share(kLongHeads, 1, &a, &b);
            float *sc = att.data() + (size_t)omp_get_thread_num() * n_pos;
            for (int h = a; h < b; h++) {
                size_t at = (size_t)(h / group) * kLongHs;
                float *o = out.data() + h * kLongHs;
                const float *qh = q.data() + h * kLongHs;
                if (f16)
                    k->attention_f16(o, qh, (const uint16_t *)cache + at,
                                     (const uint16_t *)(cache + half) + at, sc, n_pos, kLongHs,
                                     kv_dim);
                else
                    k->attention(o, qh, (const float *)cache + at,
                                 (const float *)(cache + half) + at, sc, n_pos, kLongHs, kv_dim);
            }
        }
        benchmark::ClobberMemory();
    }
    set_rates(state, (4.0 * kLongHs + 5.0) * n_pos * kLongHeads, 2.0 * half);
}

// The sampler per token (lm_sample on a copy of fixed logits: the copy is
// part of each iteration, as `copy` alone shows) at 32k and 128k vocabularies:
// greedy, run.c's default (temperature 1, top-p 0.9) and plain multinomial.
// Logits spread like a trained model's (a few tokens stand out).
void bm_sampler(benchmark::State &state, const lm_kernels *k, int vocab, float temperature,
                float topp) {
    std::vector<float> logits(vocab), work(vocab);
    for (int i = 0; i < vocab; i++) logits[i] = 16.0f * powf(rand_unit(), 7.0f);
    lm_sampler *s =
        temperature < 0 ? nullptr : lm_sampler_new(vocab, temperature, topp, 1, nullptr);
    if (s) lm_sampler_set_isa(s, k->isa, nullptr);
    int sink = 0;
    for (auto _ : state) {
        std::memcpy(work.data(), logits.data(), (size_t)vocab * sizeof(float));
        sink += s ? lm_sample(s, work.data()) : (int)work[sink % vocab];
        benchmark::DoNotOptimize(sink);
    }
    lm_sampler_free(s);
    state.counters["vocab"] = vocab;
}

// ---- registration ------------------------------------------------------------

template <class F> void add(const std::string &name, F fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_table(const lm_kernels *k, const std::vector<int> &thread_counts, bool full) {
    const std::string isa = k->isa;
    for (const Shape &s : shapes()) {
        const std::string m = std::string("/") + isa + "/" + s.name;
        const bool big = s.name == "7B";
        const int gs = s.gs;
        struct Mat {
            const char *name;
            int d, n;
            bool prefill; // also T 4, 7, 16, 17 and 64
        } mats[] = {
            {"wq", s.dim, s.dim, !big || full},
            {"w1", s.hidden, s.dim, !big || full},
            {"w2", s.dim, s.hidden, !big || full},
            {"cls", kVocab, s.dim, false},
        };
        for (const Mat &w : mats)
            for (int T : {1, 4, 7, 16, 17, 64}) {
                if (T > 1 && !w.prefill) continue;
                for (int th : thread_counts) {
                    std::string tail = std::string(".") + w.name + "/T" + std::to_string(T) +
                                       "/threads:" + std::to_string(th);
                    int d = w.d, n = w.n;
                    add("matmul_f32" + m + tail,
                        [=](benchmark::State &st) { bm_matmul_f32(st, k, d, n, T, th); });
                    add("matmul_q8" + m + tail,
                        [=](benchmark::State &st) { bm_matmul_q8(st, k, d, n, T, gs, th); });
                    for (lm_wtype bt : {LM_WT_Q4_0, LM_WT_Q4_1, LM_WT_Q5_0, LM_WT_Q5_1, LM_WT_Q4_K,
                                        LM_WT_Q5_K, LM_WT_Q6_K})
                        if (n % lm_qtype_of(bt)->block_values == 0 && lm_kernels_blk(k, bt))
                            add(std::string("matmul_") + lm_qtype_of(bt)->name + m + tail,
                                [=](benchmark::State &st) {
                                    bm_matmul_blk(st, k, bt, d, n, T, th);
                                });
                    if (s.name == "110M" || big)
                        add("matmul_f16" + m + tail,
                            [=](benchmark::State &st) { bm_matmul_16(st, k, d, n, T, false, th); });
                    if (s.name == "110M")
                        add("matmul_bf16" + m + tail,
                            [=](benchmark::State &st) { bm_matmul_16(st, k, d, n, T, true, th); });
                }
            }
        const int hs = s.dim / s.n_heads;
        for (int n : {s.dim, s.hidden}) {
            const char *t = n == s.dim ? ".dim" : ".hidden";
            add("quantize_q8" + m + t + "/threads:1",
                [=](benchmark::State &st) { bm_quantize(st, k, n, gs); });
        }
        add("rmsnorm" + m + ".dim/threads:1",
            [=](benchmark::State &st) { bm_rmsnorm(st, k, s.dim); });
        add("softmax" + m + ".vocab/threads:1",
            [=](benchmark::State &st) { bm_softmax(st, k, kVocab); });
        add("softmax" + m + ".att" + std::to_string(s.seq_len) + "/threads:1",
            [=](benchmark::State &st) { bm_softmax(st, k, s.seq_len); });
        add("rope" + m + ".dim/threads:1",
            [=](benchmark::State &st) { bm_rope(st, k, s.dim, hs); });
        add("swiglu" + m + ".hidden/threads:1",
            [=](benchmark::State &st) { bm_swiglu(st, k, s.hidden); });
        std::vector<int> positions;
        for (int n_pos : {64, 128, 256, 512})
            if (n_pos <= s.seq_len) positions.push_back(n_pos);
        if (s.seq_len > 512) positions.push_back(s.seq_len);
        for (int n_pos : positions) {
            for (int th : thread_counts) {
                const Shape *sp = &s;
                add("attention" + m + ".pos" + std::to_string(n_pos) +
                        "/threads:" + std::to_string(th),
                    [=](benchmark::State &st) { bm_attention(st, k, *sp, n_pos, th); });
            }
        }
    }
    for (int n_pos : {4096, 16384, 32768})
        for (int f16 = 0; f16 < 2; f16++)
            for (int th : thread_counts)
                add("attention_long/" + isa + "/llama3-8b.layer.pos" + std::to_string(n_pos) +
                        (f16 ? ".f16" : ".f32") + "/threads:" + std::to_string(th),
                    [=](benchmark::State &st) { bm_attention_long(st, k, n_pos, f16, th); });
}

} // namespace

int main(int argc, char **argv) {
    // Default --benchmark_min_time=0.1 keeps the whole run near 2 minutes; an
    // explicit flag wins.
    std::vector<char *> args(argv, argv + argc);
    bool has_min_time = false;
    for (int i = 1; i < argc; i++)
        has_min_time |= std::strncmp(argv[i], "--benchmark_min_time", 20) == 0;
    static char min_time[] = "--benchmark_min_time=0.1";
    if (!has_min_time) args.insert(args.begin() + 1, min_time);
    int n = (int)args.size();
    args.push_back(nullptr);
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

    const char *full_env = std::getenv("LAMINA_BENCH_FULL");
    bool full = full_env && *full_env && std::strcmp(full_env, "0") != 0;
    size_t largest = (size_t)kVocab * 4096 * sizeof(float); // the 7B classifier
    pool.init(largest);
    int cores = omp_get_num_procs();
    std::vector<int> threads = {1};
    if (cores > 1) threads.push_back(cores);

    std::string tables;
    for (int i = 0; lm_kernel_tables[i]; i++) {
        const lm_kernels *k = lm_kernel_tables[i];
        const char *missing = lm_kernels_missing_feature(k);
        tables += std::string(i ? " " : "") + k->isa + (missing ? "(skipped)" : "");
        if (missing) {
            std::string why = std::string("this CPU lacks ") + missing + ", needed by " + k->isa;
            benchmark::RegisterBenchmark(
                (std::string("unsupported/") + k->isa).c_str(),
                [why](benchmark::State &st) { st.SkipWithError(why.c_str()); });
            continue;
        }
        register_table(k, threads, full);
        for (int vocab : {32000, 128256}) {
            const std::string m = std::string("/") + k->isa + "/vocab" + std::to_string(vocab);
            add("sampler" + m + ".copy/threads:1",
                [=](benchmark::State &st) { bm_sampler(st, k, vocab, -1.0f, 0.0f); });
            add("sampler" + m + ".greedy/threads:1",
                [=](benchmark::State &st) { bm_sampler(st, k, vocab, 0.0f, 0.9f); });
            add("sampler" + m + ".t1_p0.9/threads:1",
                [=](benchmark::State &st) { bm_sampler(st, k, vocab, 1.0f, 0.9f); });
            add("sampler" + m + ".t1_p1/threads:1",
                [=](benchmark::State &st) { bm_sampler(st, k, vocab, 1.0f, 1.0f); });
        }
    }
    benchmark::AddCustomContext("lamina_cpu", lm_kernels_cpu_description());
    benchmark::AddCustomContext("lamina_tables", tables);
    benchmark::AddCustomContext("lamina_weight_pool_MiB", std::to_string(pool.bytes >> 20));
    benchmark::AddCustomContext("lamina_llc_MiB", std::to_string(pool.llc >> 20));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
