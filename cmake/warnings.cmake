# Warnings are errors for the project's own code; generated and system code is exempt.
add_library(sidelight_warnings INTERFACE)
target_compile_options(sidelight_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror
  -Wnon-virtual-dtor -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2 -Wmissing-declarations)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false positives inside libstdc++ and Boost headers at -O2.
  target_compile_options(sidelight_warnings INTERFACE -Wshadow=local -Wcast-align -Wno-maybe-uninitialized -Wno-restrict
    -Wno-array-bounds -Wno-stringop-overflow -Wno-dangling-pointer)
endif()
