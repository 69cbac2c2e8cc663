# Hardening tests that need no libFuzzer, built in every configuration (plain,
# asan, fuzz). Included from tests/CMakeLists.txt: include(hardening.cmake).
#
# - hardening.seeds: tests/fuzz/make_seeds writes the fuzz seed corpora (tiny
#   v0/v1/v2 checkpoints, tokenizers, prompts, command lines) and checks that
#   each checkpoint loads as its format and runs a forward step.
# - hardening.limits: absurd headers and KV caches are refused with a clear error.
# - hardening.alloc_failures: every allocation fails in turn; errors, not crashes.
# - hardening.replay.<target>: each fuzz target's entry point, driven by a
#   plain main(), replays tests/fuzz/regressions/<target>/ and its seeds.
set(_hardening_dir ${CMAKE_CURRENT_LIST_DIR}/fuzz)
if(DEFINED LAMINA_TEST_DATA)
  set(_hardening_data ${LAMINA_TEST_DATA})
else()
  set(_hardening_data ${PROJECT_SOURCE_DIR}/tests/data)
endif()
set(_hardening_seeds ${CMAKE_CURRENT_BINARY_DIR}/hardening-seeds)

add_executable(lamina_make_seeds ${_hardening_dir}/make_seeds.c)
target_link_libraries(lamina_make_seeds PRIVATE liblamina m)
add_test(NAME hardening.seeds COMMAND lamina_make_seeds ${_hardening_seeds})
set_tests_properties(hardening.seeds PROPERTIES FIXTURES_SETUP hardening_seeds LABELS hardening)

add_executable(test_limits ${_hardening_dir}/test_limits.c ${PROJECT_SOURCE_DIR}/src/cli/args.c)
target_compile_definitions(test_limits PRIVATE _GNU_SOURCE)
target_include_directories(test_limits PRIVATE ${PROJECT_SOURCE_DIR}/src/cli)
target_link_libraries(test_limits PRIVATE lamina_options liblamina m)
add_test(NAME hardening.limits COMMAND test_limits)
# TIMEOUT: a header that makes the loader walk 2^31 layers once took minutes.
set_tests_properties(hardening.limits PROPERTIES LABELS hardening TIMEOUT 60)

add_executable(test_alloc_failures ${_hardening_dir}/test_alloc_failures.c)
target_link_libraries(test_alloc_failures PRIVATE liblamina lamina_run)
target_link_options(test_alloc_failures PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=strdup)
add_test(NAME hardening.alloc_failures
         COMMAND test_alloc_failures ${_hardening_seeds} ${_hardening_data}/models/kjv1m.q80.bin
                 ${_hardening_data}/models/tok1024-kjv.bin)
set_tests_properties(hardening.alloc_failures PROPERTIES FIXTURES_REQUIRED hardening_seeds
                                                         LABELS hardening)

# The fuzz targets' entry points with a plain main(): regressions and seeds
# replay in every build (the fuzz build also replays them through libFuzzer).
set(_hardening_replay_inputs_checkpoint
    ${_hardening_data}/models/kjv1m.bin ${_hardening_data}/models/kjv1m.v1.bin
    ${_hardening_data}/models/kjv1m.q80.bin ${_hardening_data}/models/stories260K.bin)
set(_hardening_replay_inputs_tokenizer
    ${_hardening_data}/models/tok1024-kjv.bin ${_hardening_data}/tokenizers/llama2-32k.bin
    ${_hardening_data}/vocab/ggml-vocab-llama-spm.gguf)
set(_hardening_replay_inputs_gguf ${_hardening_data}/vocab/ggml-vocab-llama-spm.gguf)
foreach(target checkpoint tokenizer prompt args chat numbers gguf wimage)
  add_executable(replay_${target} ${_hardening_dir}/fuzz_${target}.c
                                  ${_hardening_dir}/replay_main.c)
  target_compile_definitions(replay_${target} PRIVATE _GNU_SOURCE
    LAMINA_FUZZ_VOCAB_PATH="${_hardening_data}/tokenizers/llama2-32k.bin")
  if(target MATCHES "^(args|numbers)$")
    target_sources(replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/cli/args.c)
    if(target STREQUAL "args") # every command's parser, on the one table (src/options)
      target_sources(replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/cli/bench_args.c)
      target_link_libraries(replay_${target} PRIVATE lamina_batch lamina_serve_core)
      target_include_directories(replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/batch)
    endif()
    target_include_directories(replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/cli)
    target_link_libraries(replay_${target} PRIVATE lamina_options liblamina m)
  else()
    target_link_libraries(replay_${target} PRIVATE liblamina)
  endif()
  if(target MATCHES "^(gguf|wimage)$") # the parsers' own APIs (src/engine)
    target_link_libraries(replay_${target} PRIVATE lamina_engine_internal)
  endif()
  if(target STREQUAL "chat") # the CLI's chat loop (src/cli/generate.c)
    target_link_libraries(replay_${target} PRIVATE lamina_run)
  endif()
  set(_seeds ${_hardening_seeds}/${target})
  if(target STREQUAL "gguf") # its seeds are regressions/gguf (tiny models gguf-py wrote)
    set(_seeds "")
  endif()
  add_test(NAME hardening.replay.${target}
           COMMAND replay_${target} ${_hardening_dir}/regressions/${target}
                   ${_seeds} ${_hardening_replay_inputs_${target}})
  # TIMEOUT: some regressions were slow inputs (a header walked for minutes).
  set_tests_properties(hardening.replay.${target} PROPERTIES FIXTURES_REQUIRED hardening_seeds
                                                             LABELS hardening TIMEOUT 120)
endforeach()
