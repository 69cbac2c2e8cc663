/* lamina quantize IN OUT.gguf --type T [-z tokenizer.bin] (parsed by args.c
 * on the option table): a llama2.c checkpoint or a GGUF file of F32/F16/BF16 weights as a GGUF file
 * of ggml's block types, with llama-quantize's per-tensor mixture (lm_quantize_gguf). Without
 * --type, `lamina quantize` writes llama2.c's v2 (quantize.c). The engine writes a temporary beside
 * OUT and renames it only when complete. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "front.h"

static const char *const type_names[] = {
    [LM_QUANT_Q4_0] = "q4_0",     [LM_QUANT_Q4_1] = "q4_1",     [LM_QUANT_Q5_0] = "q5_0",
    [LM_QUANT_Q5_1] = "q5_1",     [LM_QUANT_Q8_0] = "q8_0",     [LM_QUANT_Q4_K_S] = "q4_k_s",
    [LM_QUANT_Q4_K_M] = "q4_k_m", [LM_QUANT_Q5_K_S] = "q5_k_s", [LM_QUANT_Q5_K_M] = "q5_k_m",
    [LM_QUANT_Q6_K] = "q6_k",
};

/* "lamina: quantize: NN%", rewritten when NN changes (a terminal) or one line
 * per tenth (not a terminal). */
static void show_progress(void *arg, uint64_t done, uint64_t total) {
    int *shown = arg, pct = total ? (int)(done * 100 / total) : 100;
    int tty = shown[1];
    if (tty && pct != shown[0]) fprintf(stderr, "\rlamina: quantize: %3d%%", pct);
    if (!tty && pct / 10 != shown[0] / 10) fprintf(stderr, "lamina: quantize: %3d%%\n", pct);
    if (tty && done == total) fputc('\n', stderr);
    shown[0] = pct;
}

int cmd_quantize_gguf(const cli_args *a) {
    char buf[PATH_MAX];
    const char *beside =
        a->tokenizer ? NULL : cli_tokenizer_default(a->checkpoint, buf, sizeof buf);
    if (!a->tokenizer && !beside) return 1;
    lm_error e;
    int shown[2] = {-1, isatty(2)};
    cli_cancel_begin();
    int rc = lm_quantize_gguf(a->checkpoint, a->tokenizer ? a->tokenizer : beside, a->output,
                              (lm_quant_type)a->quant_type, show_progress, shown, &cli_cancel, &e);
    if (rc && beside) cli_explain_tokenizer(beside, &e);
    if (rc) return cli_cancel_end(cli_error("%s", e.msg));
    cli_cancel_end(0);
    fprintf(stderr, "lamina: wrote %s (%s)\n", a->output, type_names[a->quant_type]);
    return 0;
}
