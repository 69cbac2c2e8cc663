/* The demo model and its tokenizer, linked into the lamina binary so that a
 * copied or installed lamina runs `lamina` with no source tree beside it.
 * The files are assembled in with .incbin (GNU as, on every target lamina
 * builds for); CMake passes their paths and rebuilds this file when they
 * change. 64-byte alignment: the loader reads the weights as aligned floats
 * in place. */
#include "demo.h"

/* name, name_end: the bytes of `path`. */
#define LAMINA_INCBIN(name, path)                                                                  \
    __asm__(".pushsection .rodata\n"                                                               \
            ".balign 64\n"                                                                         \
            ".globl " #name "\n" #name ":\n"                                                       \
            ".incbin \"" path "\"\n"                                                               \
            ".globl " #name "_end\n" #name "_end:\n"                                               \
            ".byte 0\n"                                                                            \
            ".popsection\n")

LAMINA_INCBIN(lamina_demo_model, LAMINA_DEMO_MODEL);
LAMINA_INCBIN(lamina_demo_tokenizer, LAMINA_DEMO_TOKENIZER);

extern const unsigned char lamina_demo_model[], lamina_demo_model_end[];
extern const unsigned char lamina_demo_tokenizer[], lamina_demo_tokenizer_end[];

const void *demo_model(size_t *size) {
    *size = (size_t)(lamina_demo_model_end - lamina_demo_model);
    return lamina_demo_model;
}

const void *demo_tokenizer(size_t *size) {
    *size = (size_t)(lamina_demo_tokenizer_end - lamina_demo_tokenizer);
    return lamina_demo_tokenizer;
}
