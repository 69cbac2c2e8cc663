/* lamina: Llama-2-architecture inference on CPUs, compatible with the files of
 * the llama2.c tool chain. The public API; everything is prefixed lm_.
 *
 * Errors: a function that can fail takes an lm_error * (may be NULL) and, on
 * failure, returns NULL or a non-zero value and leaves a one-line message in it. */
#ifndef LAMINA_H
#define LAMINA_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h> /* sig_atomic_t: lm_cancel_flag */
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function declared here is the library's interface and is exported;
 * liblamina is built with hidden visibility, so nothing else is. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define LM_VERSION "0.1.0"

typedef struct lm_error {
    char msg[512];
} lm_error;

/* ---- model ------------------------------------------------------------ */

typedef struct lm_config {
    int dim;        /* transformer width */
    int hidden_dim; /* feed-forward width */
    int n_layers;
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads (grouped-query attention when < n_heads) */
    int vocab_size;
    int seq_len; /* longest context the model was trained for */
    /* From GGUF metadata; llama2.c's formats have the defaults. 0 in a config
     * given to lm_model_random means the default; a loaded model's info has
     * the values it runs with. */
    int head_size;    /* per attention head; default dim / n_heads */
    float rope_theta; /* RoPE base; default 10000 */
    float norm_eps;   /* RMSNorm epsilon; default 1e-5 */
} lm_config;

/* LM_FORMAT_GGUF: llama.cpp's GGUF (v2 or v3, architecture llama). */
typedef enum lm_format {
    LM_FORMAT_V0 = 0,
    LM_FORMAT_V1 = 1,
    LM_FORMAT_V2 = 2,
    LM_FORMAT_GGUF = 3
} lm_format;

typedef struct lm_model lm_model;

/* Map a checkpoint read-only and validate its header and size before any
 * weight is touched. The format is detected from the file itself: llama2.c's
 * v0, v1, v2, or GGUF (src/FORMATS.md). */
lm_model *lm_model_load(const char *path, lm_error *err);
/* The same from a file image in memory (e.g. linked into the program); `name`
 * is used in messages. The image must stay valid until lm_model_free (it is
 * copied only when it is not 4-byte aligned). */
lm_model *lm_model_load_memory(const void *data, size_t size, const char *name, lm_error *err);
void lm_model_free(lm_model *model);

typedef enum lm_rope_scaling { LM_ROPE_NONE = 0, LM_ROPE_LLAMA3 = 1 } lm_rope_scaling;

typedef struct lm_model_info {
    lm_config config;
    lm_format format;
    int shared_classifier; /* 1 if the classifier is the token embedding */
    int group_size;        /* Q8_0 group size (v2; 32 for GGUF with Q8_0), 0 otherwise */
    int gguf_version;      /* 2 or 3 for GGUF, else 0 */
    char tensor_types[48]; /* GGUF: the weights' types, e.g. "F16, F32" */
    uint64_t file_size;    /* bytes */
    uint64_t n_params;     /* weights, counting a shared classifier once */
    uint64_t weight_bytes; /* bytes of weights read per token (the decode roofline) */
    double pack_seconds;   /* time the load spent repacking the weights into panels */
    /* RoPE frequency scaling (GGUF): LM_ROPE_LLAMA3 divides each pair's
     * frequency by its factor from rope_freqs.weight (Llama 3.1 and later) */
    lm_rope_scaling rope_scaling;
    float rope_factor_min, rope_factor_max; /* the factors' range (LM_ROPE_LLAMA3) */
    int rope_pairs_scaled;                  /* pairs whose factor is not 1 */
    int rope_orig_ctx; /* llama.rope.scaling.original_context_length, 0 if absent */
    int weights_image; /* lm_weights_image_state: where the panels are */
    /* The weights' type for reports: "Q8_0", or for a GGUF of several types
     * the file's general.file_type (else the type of most weights) and the
     * tensors of each type, e.g. "Q4_K_M (mixed: Q4_K 13, Q6_K 3, F32 5)" */
    char weight_type[96];
    double bits_per_weight; /* the weights' bytes in the file x 8 / n_params */
} lm_model_info;

lm_model_info lm_model_get_info(const lm_model *model);

/* One tensor a GGUF model reads (lamina info --tensors), in file order. */
typedef struct lm_tensor_desc {
    char name[64];
    char type[16];      /* ggml's name: "Q4_K", "F32" */
    int64_t rows, cols; /* rows 1 for a vector */
    uint64_t bytes;     /* in the file */
} lm_tensor_desc;
/* How many there are (0 for llama2.c's formats), and the i-th (NULL out of range). */
int lm_model_n_tensors(const lm_model *model);
const lm_tensor_desc *lm_model_tensor(const lm_model *model, int i);

/* ---- weights images: packed weights kept on disk (src/FORMATS.md) -------
 *
 * lm_model_load repacks every matrix into panels at each start. With an image
 * directory, lm_model_load_ex keeps the panels in a file there, one per model
 * file and panel layout: a later load checks the image's header against the
 * model file's identity (size, mtime, inode, device) and the layout version,
 * then maps it read-only and shared (no copy; processes share its pages). A
 * missing, stale or damaged image is packed again and written (a temporary
 * file renamed into place); when it cannot be written (read-only or full
 * disk) the weights stay packed in memory and `note` says so in one line.
 * The texts are the same bits whichever way the panels came. */
typedef enum lm_weights_image_state {
    LM_IMAGE_NONE = 0,    /* packed in memory only */
    LM_IMAGE_MAPPED = 1,  /* an existing image was mapped */
    LM_IMAGE_WRITTEN = 2, /* packed, written as a new image and mapped */
} lm_weights_image_state;

typedef void lm_note_fn(void *arg, const char *note);

typedef struct lm_model_load_params {
    const char *image_dir; /* NULL or "": no image (lm_model_load); created if missing */
    lm_note_fn *note;      /* may be NULL: one-line notes (the image could not be written) */
    void *note_arg;
    int read_only; /* 1: map a valid image, but write none and leave its mtime (inspection) */
} lm_model_load_params;

lm_model *lm_model_load_ex(const char *path, lm_model_load_params params, lm_error *err);

/* The path the image of the model file at model_path has (or would have) in
 * dir, into out[out_len]. 0, or -1 with err set (the model cannot be read). */
int lm_weights_image_path(const char *model_path, const char *dir, char *out, size_t out_len,
                          lm_error *err);

/* Full verification of the image of model_path in dir: its header checked as
 * a load checks it, then every byte of its panels compared with a fresh
 * packing of the model. 0 when equal; 1 when it differs or is stale or
 * damaged (err says where); -1 when it cannot be read (err says why). */
int lm_weights_image_verify(const char *model_path, const char *dir, lm_error *err);

/* What an image file holds, for listings: the model path recorded in it (as
 * given when written; empty if unknown), the model's recorded size and mtime,
 * and whether the model file at that path still has that identity. 0, or -1
 * (not an image, or damaged: err says why). */
typedef struct lm_weights_image_desc {
    char model_path[1024];
    uint64_t model_size, model_mtime_ns, image_bytes;
    int layout_version; /* the image's; current is lm_weights_image_layout() */
    int stale;          /* 1 when the model at model_path no longer matches (or is gone) */
} lm_weights_image_desc;
int lm_weights_image_describe(const char *image_path, lm_weights_image_desc *out, lm_error *err);
int lm_weights_image_layout(void);

/* A model with random weights (uniform, scaled like a trained model's), built
 * in anonymous memory as a v1 (fp32) or v2 (Q8_0) file image and loaded through
 * the same validation as a file; for benchmarks and tests. group_size 0 picks
 * the exporter's rule, lm_q8_group_size. */
lm_model *lm_model_random(const lm_config *config, lm_format format, int group_size, uint64_t seed,
                          lm_error *err);

/* The cancel flag of the file writers (lm_quantize_file, lm_convert_file,
 * lm_quantize_gguf): when *cancel becomes nonzero (a caller's signal handler
 * may set it; NULL: never) they stop between tensors, remove their temporary
 * and fail with "OUT: cancelled". liblamina installs no signal handlers: the
 * program owns SIGINT/SIGTERM (the CLI sets this flag from them). A SIGBUS
 * (the input truncated while read) is the program's too; a write it ends
 * leaves OUT untouched and its temporary OUT.tmp-PID-N behind. */
typedef volatile sig_atomic_t lm_cancel_flag;

/* Write the checkpoint at `in` (v0 or v1) to `out` as v2 (Q8_0), by llama2.c's
 * exporter rules; group_size 0 = lm_q8_group_size(dim, hidden_dim). Reads the
 * file in place (no packed copy), so it converts files larger than memory.
 * The output appears only when complete; `out` may not be `in`. */
int lm_quantize_file(const char *in, const char *out, int group_size, const lm_cancel_flag *cancel,
                     lm_error *err);

/* The matrix type of lm_convert_file's GGUF output (norms are always F32). */
typedef enum lm_convert_type {
    LM_CONVERT_F32 = 0,
    LM_CONVERT_F16,  /* round to nearest even (numpy's astype(float16)) */
    LM_CONVERT_BF16, /* round to nearest even, NaN made quiet (ggml's) */
    LM_CONVERT_Q8_0, /* ggml's Q8_0: blocks of 32 with an fp16 scale; a matrix
                        whose rows are not whole blocks is written F16 */
} lm_convert_type;

/* Progress of a long write: bytes done of total. */
typedef void lm_progress_fn(void *arg, uint64_t done, uint64_t total);

/* Write the checkpoint at `in` (v0 or v1, fp32) and its tokenizer.bin as a
 * GGUF v3 file of the llama architecture at `out` (src/FORMATS.md, "GGUF"):
 * the config and the vocabulary (pieces restored to sentencepiece's form) in
 * metadata, the weights under llama.cpp's tensor names. A v2 (Q8_0) input is
 * refused: its f32 group scales have no exact GGUF form. Reads the checkpoint
 * in place; the output appears only when complete, and may be neither input.
 * progress (may be NULL) is called after each tensor. */
int lm_convert_file(const char *in, const char *tokenizer, const char *out, lm_convert_type type,
                    lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                    lm_error *err);

/* The types of `lamina quantize --type`: llama-quantize's file types, with
 * its per-tensor mixture (output.weight Q6_K; for the _M / _S mixes more bits
 * in some layers' attn_v and ffn_down; norms F32; rows that are not whole
 * super-blocks fall back to Q5_0 / Q5_1 / Q8_0). */
typedef enum lm_quant_type {
    LM_QUANT_Q4_0 = 0,
    LM_QUANT_Q4_1,
    LM_QUANT_Q5_0,
    LM_QUANT_Q5_1,
    LM_QUANT_Q8_0,
    LM_QUANT_Q4_K_S,
    LM_QUANT_Q4_K_M,
    LM_QUANT_Q5_K_S,
    LM_QUANT_Q5_K_M,
    LM_QUANT_Q6_K,
} lm_quant_type;

/* Write the model at `in` (a llama2.c v0/v1 checkpoint with its tokenizer.bin,
 * as lm_convert_file, or a GGUF llama model of F32/F16/BF16 weights, whose
 * metadata is kept; tokenizer is then unused) as a GGUF file quantized to
 * `type` by ggml's reference quantizers: llama-quantize's tensors, bit for
 * bit. Reads the input in place; the output appears only when complete.
 * progress (may be NULL) is called after each tensor. */
int lm_quantize_gguf(const char *in, const char *tokenizer, const char *out, lm_quant_type type,
                     lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                     lm_error *err);

/* Bytes of KV cache a context of n_ctx positions needs. */
uint64_t lm_kv_cache_bytes(const lm_config *config, int n_ctx);

/* The element type of a KV cache (lm_context_params.kv_type,
 * lm_batch_params.kv_type). F16 halves the cache: keys and values are
 * rounded to IEEE half (nearest even) when written and widened exactly inside
 * attention (kernels/ORDER.md), so F16 text is the same bits on every kernel
 * set, thread count and batch, but not f32's bits. */
typedef enum lm_kv_type { LM_KV_F32 = 0, LM_KV_F16 = 1 } lm_kv_type;
/* "f32", "f16"; NULL for a value that is not a type. */
const char *lm_kv_type_name(lm_kv_type type);
/* 0 and *out set for "f32" or "f16", else -1 with err naming the value. */
int lm_kv_type_parse(const char *name, lm_kv_type *out, lm_error *err);
/* Bytes of KV cache of that type a context of n_ctx positions needs. */
uint64_t lm_kv_bytes(const lm_config *config, int n_ctx, lm_kv_type type);
/* Bytes of memory available now (Linux's MemAvailable: free memory plus what
 * the kernel can reclaim; a loaded model's weights count as used). */
uint64_t lm_memory_available(void);
/* The context chosen when none is given (n_ctx / max_ctx 0): the most
 * positions, at most the model's seq_len, such that n_seqs KV caches of that
 * type and the activations fit in 90% of lm_memory_available(); 0 if not even
 * one position fits. n_seqs 1 is lm_context_new's, max_seqs lm_batch_new's. */
int lm_context_fit(const lm_model *model, int n_seqs, lm_kv_type type, int n_threads);
/* lm_context_fit, and in why[len] a one-line account of the choice
 * ("context: 8192 positions (KV f16 0.5 GiB per sequence; the model's 131072
 * would need 8.0 GiB x 4 sequences, 6.1 GiB available)"), for a program to
 * print where it is less than the model's seq_len. */
int lm_context_choose(const lm_model *model, int n_seqs, lm_kv_type type, int n_threads, char *why,
                      size_t len);

/* The Q8_0 group size llama2.c's exporter picks (the default of
 * lm_model_random and lm_quantize_file): 64, halved until it divides both
 * dim and hidden_dim (so no group straddles two rows); at least 1. */
int lm_q8_group_size(int dim, int hidden_dim);

/* The shapes of llama2.c's stories models and of Llama 2 7B, by name: 0 and
 * *out filled, or -1 for a name that is not one of lm_config_presets(). */
int lm_config_preset(const char *name, lm_config *out);
const char *lm_config_presets(void); /* "260K 15M 42M 110M 7B" */

/* The version of the arithmetic order this library computes (kernels/ORDER.md):
 * the same model, settings and seed give the same text across builds and
 * releases whose order versions are equal. */
int lm_order_version(void);

/* Seconds on a monotonic clock (the origin is arbitrary): for timing. */
double lm_seconds(void);

/* ---- kernels and threads ----------------------------------------------- */

/* Kernel sets ("ISAs") are named "scalar", "avx2", "avx512", "avx512vnni",
 * "neon", "neondot"; every one computes the same bits (kernels/ORDER.md). */
const char *lm_isa_list(void);        /* space-separated names this binary has */
const char *lm_isa_best(void);        /* the best this CPU runs: the default */
const char *lm_cpu_description(void); /* CPU name and the features that matter */
/* 0 if `name` is a kernel set this binary has and this CPU runs; otherwise
 * -1 with err naming the problem (unknown name, or the missing CPU feature). */
int lm_isa_check(const char *name, lm_error *err);

/* ---- inference context ------------------------------------------------- */

typedef struct lm_context lm_context;

typedef struct lm_context_params {
    int n_ctx;          /* positions to hold in the KV cache; 0 = lm_context_fit(model, 1, ...) */
    int n_threads;      /* 0 = automatic (OpenMP's default, capped at cores) */
    const char *isa;    /* kernel set; NULL or "" = lm_isa_best() */
    lm_kv_type kv_type; /* the KV cache's elements; 0 = LM_KV_F32 */
} lm_context_params;

lm_context *lm_context_new(const lm_model *model, lm_context_params params, lm_error *err);
void lm_context_free(lm_context *ctx);
int lm_context_n_ctx(const lm_context *ctx);
int lm_context_n_threads(const lm_context *ctx);
const char *lm_context_isa(const lm_context *ctx); /* the kernel set it runs */

/* Run n tokens at positions pos .. pos + n - 1 (the prompt goes through as a
 * matrix) and return the logits [vocab_size] after the last one; they stay
 * valid until the next call. pos + n must not exceed n_ctx. */
float *lm_forward(lm_context *ctx, const int *tokens, int n, int pos);

/* lm_forward that keeps the logits after every one of the n tokens: token i's
 * logits[i] (logits [n][vocab_size], caller's memory) predict position
 * pos + i + 1. The prompt goes through as a matrix all the same, and each
 * token's bits equal lm_forward's fed one token at a time (kernels/ORDER.md):
 * for perplexity and log-probabilities. Returns 0, or -1 with err naming
 * the bad argument. */
int lm_forward_all(lm_context *ctx, const int *tokens, int n, int pos, float *logits,
                   lm_error *err);

/* ---- tokenizer --------------------------------------------------------- */

typedef struct lm_tokenizer lm_tokenizer;

/* The special ids of llama2.c's tokenizer.bin (a GGUF vocabulary names its
 * own: lm_tokenizer_bos / lm_tokenizer_eos). */
enum { LM_TOKEN_UNK = 0, LM_TOKEN_BOS = 1, LM_TOKEN_EOS = 2 };

/* Load a vocabulary: llama2.c's tokenizer.bin, or the SentencePiece vocabulary
 * (tokenizer.ggml.model "llama") in a GGUF file's metadata, a whole model or a
 * vocabulary-only file; the kind is detected from the file's first bytes.
 * vocab_size > 0: it must hold exactly that many entries (the model's
 * vocabulary); 0: any number (tokenizer.bin: read entries to the end). */
lm_tokenizer *lm_tokenizer_load(const char *path, int vocab_size, lm_error *err);
/* The same from a file image in memory (copied); `name` for messages. */
lm_tokenizer *lm_tokenizer_load_memory(const void *data, size_t size, const char *name,
                                       int vocab_size, lm_error *err);
void lm_tokenizer_free(lm_tokenizer *tok);
int lm_tokenizer_vocab_size(const lm_tokenizer *tok);
/* The longest piece, in bytes (tok not NULL): no token covers more bytes of
 * text, so a text of B bytes (the dummy prefix space included) is at least
 * B / max_piece tokens. Clients use it to refuse, before tokenizing, a text
 * that cannot fit a context. */
int lm_tokenizer_max_piece(const lm_tokenizer *tok);

/* 1 if the file at path starts with GGUF's magic (then it carries its own
 * vocabulary, which clients use when no tokenizer is given). */
int lm_file_is_gguf(const char *path);

/* BOS and EOS ids: LM_TOKEN_BOS / LM_TOKEN_EOS for a tokenizer.bin, a GGUF
 * vocabulary's bos_token_id / eos_token_id (-1 where it has none). */
int lm_tokenizer_bos(const lm_tokenizer *tok);
/* The vocabulary's chat template text (GGUF tokenizer.chat_template, for
 * lm_chat_template_choose), or NULL: a tokenizer.bin has none. */
const char *lm_tokenizer_chat_template(const lm_tokenizer *tok);
int lm_tokenizer_eos(const lm_tokenizer *tok);

/* Where sampling ends: chat 0 for a continuation (generation, completions),
 * 1 for an assistant's answer. A tokenizer.bin keeps run.c's rules: BOS ends
 * a continuation, EOS an answer (lm_tokenizer_stop_token). A GGUF vocabulary
 * ends both at its end-of-generation tokens: eos_token_id (the stop token),
 * eot/eom_token_id and the end-of-turn tokens llama.cpp knows by name
 * (<|eot_id|>, <|im_end|>, ...); lm_token_ends says whether a token is one. */
int lm_tokenizer_stop_token(const lm_tokenizer *tok, int chat);
int lm_token_ends(const lm_tokenizer *tok, int token, int chat);

/* BPE-encode text (any bytes; invalid UTF-8 falls back to byte tokens).
 * Special-token names in the text stay text. bos: add the special tokens the
 * vocabulary asks for (BOS first, always for a tokenizer.bin; GGUF:
 * add_bos_token and add_eos_token); eos: append EOS. Returns a malloc'd array
 * of *n_out ids, or NULL with err set. */
int *lm_tokenize(const lm_tokenizer *tok, const char *text, int bos, int eos, int *n_out,
                 lm_error *err);

/* The text of `token` following `prev` (after BOS a leading space is dropped;
 * <0xHH> pieces are the raw byte; a GGUF vocabulary's U+2581 is a space, its
 * control and unknown tokens are ""). Valid while the tokenizer lives. */
const char *lm_token_piece(const lm_tokenizer *tok, int prev, int token);

/* The text token adds after prev, as lamina prints it: for a tokenizer.bin,
 * lm_piece_text of lm_token_piece (run.c's safe_printf); for a GGUF
 * vocabulary, the piece's bytes exactly, as llama.cpp prints them (a
 * character split into byte tokens comes out whole). */
const char *lm_token_text(const lm_tokenizer *tok, int prev, int token);

/* A piece as run.c's safe_printf prints it: `piece`, or "" for NULL and for
 * a single byte that is neither printable nor space. */
const char *lm_piece_text(const char *piece);

/* ---- chat template ------------------------------------------------------ */

typedef enum lm_role { LM_ROLE_SYSTEM = 0, LM_ROLE_USER, LM_ROLE_ASSISTANT } lm_role;

typedef struct lm_chat_message {
    lm_role role;
    const char *content;
} lm_chat_message;

/* The Llama 2 chat template, as a chat feeds it: an optional system message
 * first (empty content = none), then user, assistant, user, ... ending with a
 * user turn. Each user turn is BOS + "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST]"
 * (the system block in the first turn only; "[INST] USER [/INST]" without it);
 * an assistant turn is its encoded content followed by EOS. Returns a malloc'd
 * array of *n_out ids, or NULL with err naming the message that breaks the
 * order. The model's answer to it ends with EOS. */
int *lm_chat_tokens(const lm_tokenizer *tok, const lm_chat_message *msgs, int n, int *n_out,
                    lm_error *err);

/* Chat templates other than Llama 2's, recognised from a model's template
 * text (GGUF tokenizer.chat_template) as llama.cpp's llm_chat_detect_template
 * does, without a Jinja engine, and rendered as llama.cpp renders them. The
 * template's markers (<|im_start|>, [INST], ...) go in BY ID when the
 * vocabulary has them as pieces (else as text); message contents are always
 * text, never parsed for markers. LM_CHAT_LLAMA2 is lm_chat_tokens (the .bin
 * models' template); llama.cpp's llama2 variants all map to it. */
typedef enum lm_chat_template {
    LM_CHAT_UNKNOWN = -1,
    LM_CHAT_LLAMA2 = 0,
    LM_CHAT_MISTRAL_V1,
    LM_CHAT_MISTRAL_V3,
    LM_CHAT_MISTRAL_V3_TEKKEN,
    LM_CHAT_MISTRAL_V7,
    LM_CHAT_MISTRAL_V7_TEKKEN,
    LM_CHAT_CHATML,
    LM_CHAT_ZEPHYR,
    LM_CHAT_LLAMA3, /* <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> */
} lm_chat_template;

/* The template of a chat_template text (or of a name, as llama.cpp also
 * takes); LM_CHAT_UNKNOWN for one outside the families above. */
lm_chat_template lm_chat_template_detect(const char *text);
/* By name ("llama2", "mistral-v1", "mistral-v3", "mistral-v3-tekken",
 * "mistral-v7", "mistral-v7-tekken", "chatml", "zephyr", "llama3"; llama.cpp's
 * "llama2-sys", "llama2-sys-bos", "llama2-sys-strip" are llama2), or
 * LM_CHAT_UNKNOWN. */
lm_chat_template lm_chat_template_from_name(const char *name);
const char *lm_chat_template_name(lm_chat_template t); /* "unknown" for LM_CHAT_UNKNOWN */
const char *lm_chat_template_names(void);              /* the names, space-separated */

/* The template a chat runs on: `name` when given (a --chat-template option),
 * else the family of the model's template text, else (model_template NULL: a
 * llama2.c checkpoint) llama2. 0 and *out set, or -1 with err saying what is
 * unknown and which names there are: a chat never runs on a guessed template. */
int lm_chat_template_choose(const char *name, const char *model_template, lm_chat_template *out,
                            lm_error *err);

/* The messages through template t, BOS first, ending with the opening of the
 * assistant's answer; order as lm_chat_tokens. A malloc'd array of *n_out
 * ids, or NULL with err set (LM_CHAT_UNKNOWN included). */
int *lm_chat_format(const lm_tokenizer *tok, lm_chat_template t, const lm_chat_message *msgs, int n,
                    int *n_out, lm_error *err);
/* One user turn of a chat that goes on in one context (the lamina CLI's
 * chat): the first (first 1: BOS, the system message if not NULL or empty,
 * the user's message) or a later one, fed after the previous answer and its
 * end token (lm_chat_end_token); ends with the opening of the answer. A
 * malloc'd array of *n_out ids, or NULL with err set. */
int *lm_chat_turn(const lm_tokenizer *tok, lm_chat_template t, const char *system, const char *user,
                  int first, int *n_out, lm_error *err);
/* The token that ends the assistant's answer under t: <|im_end|> (chatml) or
 * <|endoftext|> (zephyr) or <|eot_id|> (llama3) where the vocabulary has it,
 * else EOS. */
int lm_chat_end_token(const lm_tokenizer *tok, lm_chat_template t);

/* ---- sampler ----------------------------------------------------------- */

/* run.c's sampler and RNG: the same seed and logits give the same token. */
typedef struct lm_sampler lm_sampler;

/* temperature >= 0 (0 = greedy); topp in [0, 1] (0 or 1 = plain multinomial). */
lm_sampler *lm_sampler_new(int vocab_size, float temperature, float topp, uint64_t seed,
                           lm_error *err);
void lm_sampler_free(lm_sampler *s);
/* Compute the sampler's softmax with this kernel set (NULL or "" = the best
 * the CPU runs, the default): a context's, lm_context_isa(ctx), so that
 * --isa scalar samples with the scalar kernels. Every set gives the same
 * bits (kernels/ORDER.md). 0, or -1 with err naming the problem. */
int lm_sampler_set_isa(lm_sampler *s, const char *isa, lm_error *err);
/* Pick the next token; logits are modified in place. */
int lm_sample(lm_sampler *s, float *logits);

/* ---- batches: many sequences per forward pass ---------------------------
 *
 * A batch runs up to max_seqs sequences at once, each with its own KV cache
 * (sized to its own context), position, sampler and seed. One lm_batch_step
 * runs one forward pass over every active sequence's next tokens (a chunk of
 * a new sequence's prompt, or the token a running one sampled last), so each
 * weight is read once per step for all of them. Sequences join and leave
 * between steps (continuous batching). A sequence's tokens are bit-identical
 * whatever else is in the batch. The one generation path: the lamina CLI
 * generates and chats on a batch of one (src/cli/generate.c), and its
 * tokens equal lm_forward's fed one position at a time. Not thread-safe: one
 * thread drives a batch. */
typedef struct lm_batch lm_batch;

typedef struct lm_batch_params {
    int max_seqs;       /* sequences active at once (slots); >= 1 */
    int max_ctx;        /* the longest context one sequence may ask for; 0 = the
                           most that fits (lm_context_fit(model, max_seqs, ...)) */
    int n_threads;      /* 0 = automatic */
    const char *isa;    /* NULL or "" = lm_isa_best() */
    lm_kv_type kv_type; /* every sequence's KV cache; 0 = LM_KV_F32 */
} lm_batch_params;

/* Refuses up front (err says why) when max_seqs full KV caches of max_ctx
 * positions and the activations cannot fit in this machine's memory. */
lm_batch *lm_batch_new(const lm_model *model, lm_batch_params params, lm_error *err);
void lm_batch_free(lm_batch *b);

typedef void lm_logits_fn(void *arg, int pos, float *logits, int vocab_size);

typedef struct lm_seq_params {
    int n_ctx;         /* positions: prompt + generated (the CLI's -n); 0 = max_ctx */
    float temperature; /* as lm_sampler_new */
    float topp;
    uint64_t seed;
    int stop_token; /* the sampled token that ends it: lm_tokenizer_stop_token (LM_TOKEN_BOS
                       for generation, LM_TOKEN_EOS for chat with a tokenizer.bin) */
    /* If not NULL, the end-of-generation tokens of this vocabulary end it too
     * (lm_token_ends; none for a tokenizer.bin). It must outlive the sequence. */
    const lm_tokenizer *end_tokens;
    /* If not NULL, called in lm_batch_step for each token this sequence is
     * about to sample, with the model's logits for it (vocab_size floats, all
     * finite; pos = the position the token will take = tokens fed so far). It
     * may read them (logprobs) or change them before the sampler runs (a bias,
     * penalties, -INFINITY to forbid a token), leaving at least one finite. */
    lm_logits_fn *logits_fn;
    void *logits_arg;
    /* Nonzero: also call logits_fn for every prompt token but the last, with
     * pos = the position of the prompt token those logits predict (1 ..
     * n_prompt - 1), in order, before the first sampling call (pos = n_prompt).
     * Nothing is sampled at those tokens; what the hook does to them is lost.
     * For the logprobs of an echoed prompt; the sequence's tokens are the
     * same with it or without. Its prompt then goes through at most max_seqs
     * tokens per step (the batch keeps the logits of max_seqs tokens). */
    int prompt_logits;
    /* Prefixes (prompt caches, n choices). keep: when the sequence ends in
     * lm_batch_step, its KV cache is not freed but handed over as an
     * lm_prefix in its event (lm_batch_detach for one ended early). prefix:
     * start from the first prefix_len positions of this prefix (copied; the
     * prefix stays the caller's): the prompt's first prefix_len ids must be
     * the prefix's, and at least one prompt token must remain to feed. The
     * tokens are bit-identical to the whole prompt's fed from position 0. */
    int keep;
    const struct lm_prefix *prefix;
    int prefix_len;
    /* If not NULL, the caller's sampler (temperature, topp and seed are then
     * unused): it samples this sequence's tokens with the batch's kernel set
     * and goes on from its state, so a chat's turns, each a sequence, draw
     * from one random stream. It must outlive the sequence; not freed. */
    lm_sampler *sampler;
} lm_seq_params;

/* The KV cache of a sequence's first positions, the tokens at them, and the
 * model it belongs to: what lm_seq_params.keep hands over. Its memory is
 * exactly its positions' cache (lm_prefix_bytes). Owned by the caller. */
typedef struct lm_prefix lm_prefix;
int lm_prefix_length(const lm_prefix *p);        /* positions held */
const int *lm_prefix_tokens(const lm_prefix *p); /* the token at each position */
uint64_t lm_prefix_bytes(const lm_prefix *p);    /* memory it holds, all included */
void lm_prefix_free(lm_prefix *p);

/* Start a sequence on `prompt` (n_prompt >= 1 ids, BOS first as lm_tokenize
 * gives them). Returns its id (>= 0, stable until it ends), or -1 with err set:
 * no free slot, a prompt longer than n_ctx, n_ctx over max_ctx, no memory. */
int lm_batch_add(lm_batch *b, const int *prompt, int n_prompt, lm_seq_params params, lm_error *err);

/* End a sequence now (a cancelled request); its slot is free at once. */
void lm_batch_cancel(lm_batch *b, int seq);

int lm_batch_active(const lm_batch *b); /* sequences running (or still in their prompt) */
int lm_batch_free_slots(const lm_batch *b);

typedef enum lm_finish {
    LM_RUNNING = 0,   /* more tokens will come */
    LM_FINISH_STOP,   /* it sampled its stop_token or an end token (token holds it; not text) */
    LM_FINISH_LENGTH, /* token was sampled at the last position of its n_ctx */
} lm_finish;

typedef struct lm_batch_event {
    int seq;    /* the sequence's id */
    int token;  /* the token it sampled this step */
    int finish; /* lm_finish; a finished sequence's slot is already free */
    /* A finished sequence with keep: its positions fed (the prompt and every
     * sampled token but the last), now the caller's; NULL otherwise (also
     * when there was no memory to compact it). */
    lm_prefix *prefix;
} lm_batch_event;

/* One forward pass over the active sequences. Writes one event per sequence
 * that sampled a token (sequences still feeding their prompt write none) and
 * returns how many, or -1 with err set (then every sequence is ended). events
 * has room for max_seqs entries. With no active sequence it returns 0. */
int lm_batch_step(lm_batch *b, lm_batch_event *events, lm_error *err);

/* End a sequence now, as lm_batch_cancel, and hand over its KV cache of the
 * positions fed so far as a prefix (NULL with err set: no such sequence, no
 * position fed yet, no memory; the sequence is ended all the same). */
lm_prefix *lm_batch_detach(lm_batch *b, int seq, lm_error *err);

/* A copy of the first n positions a running sequence has fed, as a prefix
 * (it runs on): n choices of one prompt prefill it once. NULL with err set:
 * no such sequence, n outside 1..positions fed, no memory. */
lm_prefix *lm_batch_snapshot(const lm_batch *b, int seq, int n, lm_error *err);

/* Bytes of KV cache the batch has allocated now (each sequence's own). */
uint64_t lm_batch_kv_bytes(const lm_batch *b);

/* The kernel set a batch runs and its threads (for reports, as
 * lm_context_isa and lm_context_n_threads). */
const char *lm_batch_isa(const lm_batch *b);
int lm_batch_n_threads(const lm_batch *b);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
