/* Checkpoint headers and the exporter's group-size rule (checkpoint.h). */
#include "checkpoint.h"

#include <string.h>

int lm_q8_group_size(int dim, int hidden_dim) {
    int gs = 64;
    while (gs > 1 && (dim % gs || hidden_dim % gs)) gs /= 2;
    return gs;
}

void lm_checkpoint_header(uint8_t *out, const lm_config *c, lm_format format, int shared_classifier,
                          int group_size) {
    uint32_t magic = LM_MAGIC;
    int32_t version = format == LM_FORMAT_V2 ? 2 : 1;
    int32_t fields[7] = {c->dim,        c->hidden_dim, c->n_layers, c->n_heads,
                         c->n_kv_heads, c->vocab_size, c->seq_len};
    memset(out, 0, LM_HEADER_BYTES);
    memcpy(out, &magic, 4);
    memcpy(out + 4, &version, 4);
    memcpy(out + 8, fields, sizeof fields);
    out[36] = (uint8_t)(shared_classifier != 0);
    if (format == LM_FORMAT_V2) memcpy(out + 37, &group_size, 4);
}
