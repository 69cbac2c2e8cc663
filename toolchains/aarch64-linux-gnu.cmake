# Cross-compile for 64-bit Arm Linux with Debian's gcc-aarch64-linux-gnu, and run
# the tests under qemu-user. Needs (Debian 12): gcc-aarch64-linux-gnu,
# g++-aarch64-linux-gnu, libgomp1-arm64-cross, libcpu-features-dev:arm64,
# libpcre2-dev:arm64, qemu-user.
#
#   cmake -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(LAMINA_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${LAMINA_CROSS_TRIPLE}-gcc)
find_program(LAMINA_CROSS_CXX ${LAMINA_CROSS_TRIPLE}-g++)
find_program(LAMINA_HOST_CLANGXX clang++)
if(LAMINA_CROSS_CXX)
  set(CMAKE_CXX_COMPILER ${LAMINA_CROSS_CXX})
elseif(LAMINA_HOST_CLANGXX)
  # project() asks for C++ although only the benchmarks use it. Without
  # g++-aarch64-linux-gnu there is no arm64 libstdc++ to link, so C++ is enabled
  # through clang for configuring only: build with -DLAMINA_BUILD_BENCH=OFF.
  message(STATUS "${LAMINA_CROSS_TRIPLE}-g++ not found (apt-get install "
                 "g++-aarch64-linux-gnu): C++ targets cannot be cross-built")
  set(CMAKE_CXX_COMPILER ${LAMINA_HOST_CLANGXX})
  set(CMAKE_CXX_COMPILER_TARGET ${LAMINA_CROSS_TRIPLE})
  set(CMAKE_CXX_FLAGS_INIT -nostdlib++)
else()
  set(CMAKE_CXX_COMPILER ${LAMINA_CROSS_TRIPLE}-g++)
endif()
# The compiler reports this too; setting it keeps find_* on the arm64 multiarch
# directories (/usr/lib/aarch64-linux-gnu) even before the compiler is probed.
set(CMAKE_LIBRARY_ARCHITECTURE ${LAMINA_CROSS_TRIPLE})

# Two roots: the cross toolchain's own tree (/usr/aarch64-linux-gnu: libc, libgomp)
# and the host root, where Debian's multiarch :arm64 packages live
# (/usr/lib/aarch64-linux-gnu, e.g. cmake/CpuFeatures). Lookups use the arm64
# multiarch directory, never lib/x86_64-linux-gnu, so host libraries stay out.
set(CMAKE_FIND_ROOT_PATH /usr/${LAMINA_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER) # build tools run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and custom commands that run a built executable) run aarch64 programs through
# qemu-user; -L points its dynamic loader at the cross libc and libgomp. The
# "max" CPU model exposes every extension qemu emulates (asimddp/sdot included),
# so the neondot table is tested rather than skipped.
# One thread under emulation: Debian 12's qemu-user (7.2) never returns from a
# guest's thread creation on recent host kernels (a plain pthread_create hangs
# there), so OpenMP and lamina must not start a second thread. Thread-count
# independence is tested natively.
set(CMAKE_CROSSCOMPILING_EMULATOR
    env;OMP_THREAD_LIMIT=1;OMP_NUM_THREADS=1;qemu-aarch64;-cpu;max;-L;/usr/${LAMINA_CROSS_TRIPLE})
