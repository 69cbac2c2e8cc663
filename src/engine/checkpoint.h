/* What a checkpoint writer needs to agree with the loader: the v1/v2 header
 * (src/FORMATS.md, "Checkpoints"). Used by lm_model_random (model.c) and
 * lm_quantize_file (quantize.c); the group-size rule is lm_q8_group_size. */
#ifndef LAMINA_CHECKPOINT_H
#define LAMINA_CHECKPOINT_H

#include <stdint.h>

#include "lamina.h"

#define LM_MAGIC 0x616b3432u /* "ak42" */
#define LM_HEADER_BYTES 256  /* of v1 and v2; v0's is the 28-byte config alone */

/* The LM_HEADER_BYTES bytes of a v1 (fp32) or v2 (Q8_0, group_size) header;
 * the unused tail is zero. */
void lm_checkpoint_header(uint8_t *out, const lm_config *c, lm_format format, int shared_classifier,
                          int group_size);

#endif
