# kernels.isa_list: the kernel sets `lamina --version` says it was built with
# ("built: ...", dispatch.c's tables) are the ones kernels/CMakeLists.txt lists.
#   cmake -DLAMINA=path/to/lamina -DEXPECTED="scalar avx2 ..." -P isa_list.cmake
execute_process(COMMAND ${LAMINA} --version
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lamina --version exited ${rc}")
endif()
if(NOT out MATCHES "\\(built: ([^)]*)\\)")
  message(FATAL_ERROR "no 'built:' list in lamina --version:\n${out}")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL EXPECTED)
  message(FATAL_ERROR "lamina was built with '${CMAKE_MATCH_1}', kernels/CMakeLists.txt lists '${EXPECTED}'")
endif()
message(STATUS "kernel sets: ${CMAKE_MATCH_1}")
