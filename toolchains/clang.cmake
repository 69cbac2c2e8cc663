# Build for the host with clang instead of the default compiler (LAMINA_FUZZ needs
# it; also a second compiler's warnings). OpenMP comes from LLVM's libomp
# (Debian: libomp-dev).
#
#   cmake -B build-clang -DCMAKE_TOOLCHAIN_FILE=toolchains/clang.cmake
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
