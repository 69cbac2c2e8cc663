# order.version: kernels/ORDER.version names the SHA-256 of kernels/ORDER.md
# (a change to the order must raise its version), and `lamina --version` shows
# that version.
#   cmake -DLAMINA=lamina -DORDER=kernels/ORDER.md -DVERSION=N -DSHA256=H -P order_version.cmake
file(SHA256 ${ORDER} actual)
if(NOT actual STREQUAL SHA256)
  message(FATAL_ERROR "kernels/ORDER.md changed (sha256 ${actual}); raise the version in "
                      "kernels/ORDER.version and record the new sha256 there")
endif()
execute_process(COMMAND ${LAMINA} --version OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lamina --version exited ${rc}")
endif()
if(NOT out MATCHES "arithmetic order: v${VERSION} \\(kernels/ORDER.md\\)")
  message(FATAL_ERROR "lamina --version does not say 'arithmetic order: v${VERSION}':\n${out}")
endif()
message(STATUS "arithmetic order v${VERSION}, ORDER.md sha256 ${actual}")
