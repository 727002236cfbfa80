# Install rules and the Debian package (CPack's DEB generator; scripts/package.sh runs it).
#
#   cmake --install build --prefix /usr/local     binary, unit, config, docs, examples
#   scripts/package.sh                            build/package/sidelight_<version>-1_amd64.deb
#
# With the prefix /usr (the package), the config goes to /etc/sidelight and the unit to
# /lib/systemd/system, as Debian 12 wants them; with another prefix, under that prefix. The unit's
# paths are rewritten to match.
include(GNUInstallDirs)

# SOURCE (relative to the source tree) gzipped as Debian wants it (-9, no name or time stamp) into
# build/install/NAME, at configure time and again whenever SOURCE changes.
function(sidelight_gzip source name)
  execute_process(COMMAND gzip -9 -n -c "${PROJECT_SOURCE_DIR}/${source}"
                  OUTPUT_FILE "${PROJECT_BINARY_DIR}/install/${name}" COMMAND_ERROR_IS_FATAL ANY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${source}")
endfunction()
file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/install")

set(SIDELIGHT_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sidelight")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(default_unit_dir "/lib/systemd/system")
else()
  set(default_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(SIDELIGHT_SYSTEMD_UNIT_DIR "${default_unit_dir}" CACHE PATH "Where sidelight.service goes")
set(SIDELIGHT_DOC_DIR "${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/sidelight")
set(SIDELIGHT_DATA_DIR "${CMAKE_INSTALL_FULL_DATAROOTDIR}/sidelight")

install(TARGETS sidelight RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

file(READ "${PROJECT_SOURCE_DIR}/systemd/sidelight.service" unit)
string(REPLACE "/usr/bin/sidelight" "${CMAKE_INSTALL_FULL_BINDIR}/sidelight" unit "${unit}")
string(REPLACE "/etc/sidelight/" "${SIDELIGHT_CONFIG_DIR}/" unit "${unit}")
string(REPLACE "/usr/share/doc/sidelight/" "${SIDELIGHT_DOC_DIR}/" unit "${unit}")
file(WRITE "${PROJECT_BINARY_DIR}/install/sidelight.service" "${unit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${PROJECT_SOURCE_DIR}/systemd/sidelight.service")
install(FILES "${PROJECT_BINARY_DIR}/install/sidelight.service"
        DESTINATION ${SIDELIGHT_SYSTEMD_UNIT_DIR})

# The host's config (a conffile in the package); the reference with every key goes with the docs.
install(FILES config/host.yaml DESTINATION ${SIDELIGHT_CONFIG_DIR} RENAME sidelight.yaml)
install(FILES config/sidelight.yaml DESTINATION ${SIDELIGHT_DOC_DIR}/examples)

install(FILES README.md DESTINATION ${SIDELIGHT_DOC_DIR})
install(DIRECTORY docs/ DESTINATION ${SIDELIGHT_DOC_DIR} FILES_MATCHING PATTERN "*.md")
sidelight_gzip(docs/sidelight.1 sidelight.1.gz)
install(FILES "${PROJECT_BINARY_DIR}/install/sidelight.1.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# Alert rules and dashboards to start from, whole directories: whatever they hold is shipped.
foreach(dir prometheus grafana)
  if(IS_DIRECTORY "${PROJECT_SOURCE_DIR}/config/${dir}")
    install(DIRECTORY config/${dir}/ DESTINATION ${SIDELIGHT_DATA_DIR}/${dir}
            FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
            DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
  endif()
endforeach()

include(cmake/package.cmake)
