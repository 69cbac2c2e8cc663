/* lamina info [MODEL]: what a checkpoint is and what it needs. */
#include <stdio.h>
#include <sys/stat.h>

#include "demo.h"
#include "front.h"

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static const char *format_name(lm_format f) {
    return f == LM_FORMAT_V0 ? "llama2.c legacy, fp32" : f == LM_FORMAT_V1 ? "fp32" : "Q8_0 int8";
}

/* Llama 3's scaling: the per-pair factors' range; the long-wavelength pairs
 * get the largest (the file's scaling factor). */
static void print_rope_scaling(const lm_model_info *i, const lm_config *c) {
    if (i->rope_scaling != LM_ROPE_LLAMA3) {
        printf("rope scale:  none\n");
        return;
    }
    printf("rope scale:  llama3 (rope_freqs.weight): factor %g (low frequencies) to %g (high), "
           "%d of %d pairs scaled",
           (double)i->rope_factor_max, (double)i->rope_factor_min, i->rope_pairs_scaled,
           c->head_size / 2);
    if (i->rope_orig_ctx) printf(", original context %d", i->rope_orig_ctx);
    printf("\n");
}

/* Where the model's weights image is (or would be), and its size. */
static void print_image(const char *model) {
    char dir[4096], path[4200];
    wcache_dir(&cli_wcache, dir, sizeof dir);
    lm_error e;
    struct stat st;
    if (!model)
        printf("image:       - (the embedded model is packed in memory)\n");
    else if (!dir[0])
        printf("image:       - (no weights cache)\n");
    else if (lm_weights_image_path(model, dir, path, sizeof path, &e))
        printf("image:       - (%s)\n", e.msg);
    else if (stat(path, &st) == 0)
        printf("image:       %s (%.1f MiB)\n", path, mib((uint64_t)st.st_size));
    else
        printf("image:       %s (not written)\n", path);
}

/* info --tensors: each GGUF tensor the model reads, in the order it reads them. */
static void print_tensors(const lm_model *m) {
    int n = lm_model_n_tensors(m);
    if (!n) printf("tensors:     - (not a GGUF file)\n");
    for (int j = 0; j < n; j++) {
        const lm_tensor_desc *t = lm_model_tensor(m, j);
        printf("tensor:      %-28s %-5s [%lld, %lld] %llu bytes\n", t->name, t->type,
               (long long)t->rows, (long long)t->cols, (unsigned long long)t->bytes);
    }
}

int cmd_info(const cli_args *a) {
    lm_error e;
    cli_wcache.read_only = 1; /* info looks: it maps an image, writes none */
    lm_model *m = cli_load_model(a->checkpoint, &e);
    if (!m) return cli_error("%s", e.msg);
    lm_model_info i = lm_model_get_info(m);
    const lm_config *c = &i.config;
    int head_size = c->head_size;
    printf("file:        %s (%llu bytes)\n", a->checkpoint ? a->checkpoint : DEMO_NAME,
           (unsigned long long)i.file_size);
    if (i.format == LM_FORMAT_GGUF)
        printf("format:      GGUF v%d (llama; tensors %s)\n", i.gguf_version, i.tensor_types);
    else
        printf("format:      v%d (%s)\n", (int)i.format, format_name(i.format));
    printf("config:      dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, "
           "vocab_size %d, seq_len %d (head_size %d)\n",
           c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len,
           head_size);
    printf("rope/norm:   theta %g, rmsnorm eps %g\n", (double)c->rope_theta, (double)c->norm_eps);
    print_rope_scaling(&i, c);
    printf("parameters:  %llu (%.2fM)\n", (unsigned long long)i.n_params, (double)i.n_params / 1e6);
    printf("classifier:  %s\n",
           i.shared_classifier ? "shared with the token embedding" : "separate");
    /* A GGUF file names its chat template (tokenizer.chat_template); a
     * llama2.c checkpoint's is Llama 2's. */
    lm_chat_template t;
    lm_error te;
    lm_tokenizer *vocab =
        i.format == LM_FORMAT_GGUF ? lm_tokenizer_load(a->checkpoint, 0, &te) : NULL;
    const char *text = lm_tokenizer_chat_template(vocab);
    if (lm_chat_template_choose(NULL, text, &t, &te) == 0)
        printf("chat:        %s template (%s)\n", lm_chat_template_name(t),
               text                         ? "the file's tokenizer.chat_template"
               : i.format == LM_FORMAT_GGUF ? "the file names none: Llama 2's"
                                            : "llama2.c checkpoint");
    else
        printf("chat:        the file's template is none lamina knows (chat needs "
               "--chat-template NAME)\n");
    lm_tokenizer_free(vocab);
    if (i.group_size)
        printf("group size:  %d\n", i.group_size);
    else if (i.weight_type[0] == 'Q') /* ggml's block types: the blocks are the groups */
        printf("group size:  - (ggml blocks: %s)\n", i.weight_type);
    else
        printf("group size:  - (not quantized)\n");
    printf("weights:     %s, %.2f bits per weight\n", i.weight_type, i.bits_per_weight);
    if (a->tensors) print_tensors(m);
    printf("memory:      weights %.1f MiB (%.1f MiB read per token); "
           "KV cache %.1f MiB for -n 256, %.1f MiB for the full seq_len %d\n",
           mib(i.file_size), mib(i.weight_bytes),
           mib(lm_kv_cache_bytes(c, c->seq_len < 256 ? c->seq_len : 256)),
           mib(lm_kv_cache_bytes(c, c->seq_len)), c->seq_len);
    /* Both cache types: per position, for -n, and the most positions that fit
     * now (the context serve and batch choose without --ctx; run with -n 0)
     * for --parallel sequences. */
    lm_kv_type types[2] = {LM_KV_F32, LM_KV_F16};
    int seqs = a->parallel > 0 ? a->parallel : 1,
        n_run = a->steps > 0 && a->steps < c->seq_len ? a->steps : c->seq_len;
    for (int k = 0; k < 2; k++) {
        int fit = lm_context_fit(m, seqs, types[k], 0);
        printf("kv %s:      %.2f KiB per position; %.1f MiB for -n %d; %d positions fit now "
               "(%.1f MiB x %d sequence%s)%s\n",
               lm_kv_type_name(types[k]), (double)lm_kv_bytes(c, 1, types[k]) / 1024.0,
               mib(lm_kv_bytes(c, n_run, types[k])), n_run, fit, mib(lm_kv_bytes(c, fit, types[k])),
               seqs, seqs > 1 ? "s" : "", fit < c->seq_len ? ", less than seq_len" : "");
    }
    if (a->parallel > 0) {
        /* lamina batch / serve: each sequence's cache holds its own context;
         * this is the most N of them take at once. */
        int n = a->steps > 0 && a->steps < c->seq_len ? a->steps : c->seq_len;
        lm_kv_type kv = LM_KV_F32;
        if (a->kv_type && lm_kv_type_parse(a->kv_type, &kv, &e)) {
            lm_model_free(m);
            return cli_error("%s", e.msg);
        }
        printf("batch:       --parallel %d: %s KV caches %.1f MiB for %d sequences of %d "
               "positions\n",
               a->parallel, lm_kv_type_name(kv), mib(lm_kv_bytes(c, n, kv) * (uint64_t)a->parallel),
               a->parallel, n);
    }
    printf("packing:     %.3f s (weights into panels at load%s)\n", i.pack_seconds,
           i.weights_image == LM_IMAGE_MAPPED    ? ": mapped from the weights cache"
           : i.weights_image == LM_IMAGE_WRITTEN ? ", then written to the weights cache"
                                                 : "");
    print_image(a->checkpoint);
    printf("kernels:     %s; cpu: %s\n", cli_isa, lm_cpu_description());
    lm_model_free(m);
    return 0;
}
