# The Debian package, with CPack's DEB generator. What debhelper would otherwise provide is here:
# the maintainer scripts (packaging/deb/: the sidelight user, enabling and restarting the unit as
# deb-systemd-helper and deb-systemd-invoke do it), the conffile list, a changelog, a copyright
# file and lintian overrides, dependencies computed by dpkg-shlibdeps, stripped binaries.
# scripts/package.sh configures a build for it (prefix /usr, Debian's shared libraries) and checks
# the result with lintian.
option(SIDELIGHT_PACKAGE "Also install the Debian package's own files (changelog, copyright)" OFF)
set(SIDELIGHT_DEB_MAINTAINER "sidelight maintainers <maintainers@sidelight.example>"
    CACHE STRING "The Maintainer field of the Debian package")

if(SIDELIGHT_PACKAGE)
  # The changelog's first entry must be the version being built.
  file(STRINGS packaging/deb/changelog first_line LIMIT_COUNT 1)
  if(NOT first_line MATCHES "^sidelight \\(${PROJECT_VERSION}-1\\)")
    message(FATAL_ERROR "packaging/deb/changelog does not start with version "
                        "${PROJECT_VERSION}-1 (project version): add an entry")
  endif()
  sidelight_gzip(packaging/deb/changelog changelog.Debian.gz)
  install(FILES "${PROJECT_BINARY_DIR}/install/changelog.Debian.gz" packaging/deb/copyright
          DESTINATION ${SIDELIGHT_DOC_DIR})
  install(FILES packaging/deb/lintian-overrides
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME sidelight)
  # Stripped as dh_strip does it: also the compiler's .comment notes.
  install(CODE "execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment
                  --remove-section=.note --strip-unneeded
                  \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_BINDIR}/sidelight\"
                  COMMAND_ERROR_IS_FATAL ANY)")
endif()

# Every file under /etc is a conffile: dpkg keeps an admin's changes on upgrade and asks.
file(WRITE "${PROJECT_BINARY_DIR}/install/conffiles" "${SIDELIGHT_CONFIG_DIR}/sidelight.yaml\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sidelight)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SIDELIGHT_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/package")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "heartbeats and uptime of a host's services, over OTLP")
# The synopsis is the summary above; CPack indents these lines and makes the empty one " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "sidelight watches services by PID, pidfile, process match, systemd unit or
listening socket, and sends heartbeat and uptime metrics on their behalf over
OpenTelemetry (OTLP): a crash shows within a second, a restart resets uptime
and counts a restart. Applications on the host hand it spans, logs and
metrics over Unix sockets; it queues, batches and forwards them upstream.

The package runs it as a hardened systemd service under its own user.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SIDELIGHT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps adds the shared libraries; postinst needs adduser, ExecReload= needs /bin/kill.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_BINARY_DIR}/install/conffiles;${PROJECT_SOURCE_DIR}/packaging/deb/postinst;${PROJECT_SOURCE_DIR}/packaging/deb/prerm;${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)
