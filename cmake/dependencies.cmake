# Every dependency comes from a Debian 12 package (see scripts/deps.sh); nothing is downloaded.
find_package(Threads REQUIRED)
find_package(Protobuf 3.21 REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS headers)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(simdjson CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# sidelight_deps: gRPC, protobuf, Abseil, OpenSSL, RE2, yaml-cpp and zlib, in one link-ordered
# interface target. By default their static archives (Debian ships them) are linked: only the code
# sidelight uses is loaded, which saves several MiB of resident shared-library pages (see
# docs/PERFORMANCE.md). Sanitizer builds use the shared libraries (the TSan suppressions name them).
option(SIDELIGHT_STATIC_DEPS "Link gRPC, protobuf, Abseil, OpenSSL, RE2, yaml-cpp and zlib statically" ON)
add_library(sidelight_deps INTERFACE)
if(SIDELIGHT_STATIC_DEPS)
  pkg_check_modules(GRPC_STATIC REQUIRED grpc++ protobuf re2 openssl zlib)
  set(static_archives)
  foreach(lib yaml-cpp ${GRPC_STATIC_STATIC_LIBRARIES})
    if(lib MATCHES "^(dl|rt|m|pthread|c|atomic)$")
      continue()
    endif()
    find_library(archive_${lib} NAMES lib${lib}.a NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
    if(NOT archive_${lib})
      message(FATAL_ERROR "no static lib${lib}.a; configure with -DSIDELIGHT_STATIC_DEPS=OFF")
    endif()
    list(APPEND static_archives ${archive_${lib}})
  endforeach()
  list(REMOVE_DUPLICATES static_archives)
  # One group: the archives depend on each other in no order CMake could know.
  target_link_libraries(sidelight_deps INTERFACE
    "-Wl,--start-group" ${static_archives} "-Wl,--end-group" Threads::Threads ${CMAKE_DL_LIBS} rt atomic)
  target_link_options(sidelight_deps INTERFACE -Wl,--gc-sections)
  # spdlog and fmt have no static archives in Debian; both work header-only, so only what
  # sidelight uses is compiled in and neither shared library is loaded.
  add_library(sidelight_log INTERFACE)
  target_compile_definitions(sidelight_log INTERFACE SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY)
  target_link_libraries(sidelight_log INTERFACE Threads::Threads)
else()
  target_link_libraries(sidelight_deps INTERFACE gRPC::grpc++ protobuf::libprotobuf
    OpenSSL::Crypto PkgConfig::RE2 yaml-cpp ZLIB::ZLIB Threads::Threads)
  add_library(sidelight_log INTERFACE)
  target_link_libraries(sidelight_log INTERFACE spdlog::spdlog)
endif()
