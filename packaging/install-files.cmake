# Runs at install time (install(CODE) in packaging/CMakeLists.txt), when the real prefix is
# known (`cmake --install --prefix P`, or /usr inside cpack): writes the systemd unit and the
# example config with that prefix's paths and installs them. /usr keeps its config in /etc
# (FHS); any other prefix P in P/etc. Expects BG_SRC and BG_BUILD.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(BG_SYSCONFDIR /etc)
else()
  set(BG_SYSCONFDIR "${prefix}/etc")
endif()
set(BG_BINDIR "${prefix}/bin")
set(BG_LIBEXECDIR "${prefix}/libexec/bluegreen")
set(BG_CONFIG "${BG_SYSCONFDIR}/bluegreen/bluegreen.yaml")
set(out "${BG_BUILD}/packaging/install")
configure_file("${BG_SRC}/packaging/systemd/bluegreen.service.in" "${out}/bluegreen.service" @ONLY)
configure_file("${BG_SRC}/packaging/bluegreen.yaml.in" "${out}/bluegreen.yaml" @ONLY)
file(INSTALL "${out}/bluegreen.service" DESTINATION "${prefix}/lib/systemd/system")
file(INSTALL "${out}/bluegreen.yaml" DESTINATION "${BG_SYSCONFDIR}/bluegreen")
