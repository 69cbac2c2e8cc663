// Tokenizer encoding speed (Google Benchmark; bytes_per_second is the figure):
// Llama 3's 128k byte-level BPE vocabulary and the Llama 2 SentencePiece one,
// on English prose (the Book of Ruth, KJV) and on llama.cpp's mixed tokenizer
// test texts (code, CJK, emoji, whitespace runs). One core: lm_tokenize is
// single-threaded. Run: build/bench/bench_tokenize [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lamina.h"

#ifndef LAMINA_TEST_DATA
#error "LAMINA_TEST_DATA (tests/data) must be defined"
#endif

namespace {

std::string slurp(const std::string &path) {
    std::string s;
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return s;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

void bm_encode(benchmark::State &st, const char *vocab, const char *text_file) {
    lm_error err;
    lm_tokenizer *tok = lm_tokenizer_load((std::string(LAMINA_TEST_DATA) + vocab).c_str(), 0, &err);
    std::string text = slurp(std::string(LAMINA_TEST_DATA) + text_file);
    if (!tok || text.empty()) {
        st.SkipWithError(tok ? "cannot read the text" : err.msg);
        lm_tokenizer_free(tok);
        return;
    }
    long tokens = 0;
    for (auto _ : st) {
        int n = 0;
        int *ids = lm_tokenize(tok, text.c_str(), 0, 0, &n, &err);
        if (!ids) {
            st.SkipWithError(err.msg);
            break;
        }
        tokens += n;
        std::free(ids);
    }
    st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)text.size());
    st.counters["bytes_per_token"] =
        tokens ? (double)st.iterations() * (double)text.size() / (double)tokens : 0;
    lm_tokenizer_free(tok);
}

} // namespace

BENCHMARK_CAPTURE(bm_encode, llama3_bpe_english, "/vocab/ggml-vocab-llama-bpe.gguf",
                  "/text/kjv_ruth.txt");
BENCHMARK_CAPTURE(bm_encode, llama3_bpe_mixed, "/vocab/ggml-vocab-llama-bpe.gguf",
                  "/vocab/ggml-vocab-llama-bpe.gguf.inp");
BENCHMARK_CAPTURE(bm_encode, gpt2_bpe_english, "/vocab/ggml-vocab-gpt-2.gguf",
                  "/text/kjv_ruth.txt");
BENCHMARK_CAPTURE(bm_encode, llama2_spm_english, "/vocab/ggml-vocab-llama-spm.gguf",
                  "/text/kjv_ruth.txt");

BENCHMARK_MAIN();
