if(SIDELIGHT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(SIDELIGHT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's std_fenced_block uses atomic_thread_fence, which GCC's TSan cannot model; Asio's
    # queues are guarded by mutexes, which TSan does see.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(-fsanitize=thread)
elseif(SIDELIGHT_SANITIZE STREQUAL "fuzzer")
  # libFuzzer builds (clang): every library instrumented for coverage, ASan and UBSan.
  # Without UBSan's `function` check: clang 14 cannot emit its prologue data for C++20
  # coroutines ("Cannot represent a difference across sections"), which the OTLP/HTTP exporter
  # uses; indirect calls through mismatched function types are all it would catch.
  # Undefined behaviour stops the target, so that libFuzzer saves the input and the run fails.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT SIDELIGHT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SIDELIGHT_SANITIZE must be '', 'address' or 'thread'")
endif()
