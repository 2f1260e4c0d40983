# Cross compiling for 64-bit Arm Linux with Debian's GNU toolchain
# (apt-get install gcc-aarch64-linux-gnu), e.g. the C core and its test
# driver, run under qemu-aarch64 (.ci/aarch64.sh):
#   cmake -B build-arm -DNC_BUILD_PYTHON=OFF \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# NC_CROSS_PREFIX picks another triplet's tools (aarch64-linux-musl-, ...).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
if(NOT DEFINED NC_CROSS_PREFIX)
  set(NC_CROSS_PREFIX aarch64-linux-gnu-)
endif()
set(CMAKE_C_COMPILER ${NC_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${NC_CROSS_PREFIX}g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# run the test driver through the emulator (ctest, try_run)
find_program(NC_QEMU_AARCH64 qemu-aarch64)
if(NC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NC_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
