/* The block types' dequantization and quantization over raw files, for the
 * gguf-py comparisons of check_quant.py:
 *   quant_tool dequant TYPE IN OUT   IN: whole blocks; OUT: their fp32 values
 *   quant_tool quant TYPE IN OUT     IN: fp32 values; OUT: ggml blocks
 * TYPE is the GGUF type id (2 Q4_0 .. 14 Q6_K). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qtypes.h"
#include "quant_blocks.h"

static void *slurp(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        if (f) fclose(f);
        return NULL;
    }
    void *p = malloc((size_t)*len + 1);
    if (p && fread(p, 1, (size_t)*len, f) != (size_t)*len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static int spill(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(p, 1, n, f) != n;
    if (f && fclose(f)) bad = 1;
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 5) return fprintf(stderr, "usage: quant_tool dequant|quant TYPE IN OUT\n"), 2;
    const lm_qtype *t = lm_qtype_ggml(atoi(argv[2]));
    long len;
    unsigned char *in = slurp(argv[3], &len);
    if (!t || !in) return fprintf(stderr, "quant_tool: bad type or input\n"), 2;
    int rc;
    if (strcmp(argv[1], "dequant") == 0) {
        long blocks = len / t->block_bytes;
        float *out = malloc((size_t)blocks * (size_t)t->block_values * sizeof(float) + 1);
        /* one block a row, so every block starts a row */
        for (long b = 0; b < blocks; b++)
            t->dequant_row(out + b * t->block_values, in + b * t->block_bytes, t->block_values);
        rc = spill(argv[4], out, (size_t)blocks * (size_t)t->block_values * sizeof(float));
        free(out);
    } else {
        long n = len / 4 / t->block_values * t->block_values;
        unsigned char *out = malloc((size_t)(n / t->block_values * t->block_bytes) + 1);
        rc = lm_quantize_blocks(t->ggml_type, (const float *)(void *)in, out, (uint64_t)n) ||
             spill(argv[4], out, (size_t)(n / t->block_values * t->block_bytes));
        free(out);
    }
    free(in);
    return rc ? 1 : 0;
}
