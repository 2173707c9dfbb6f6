# FindLLHTTP: the llhttp HTTP/1.1 parser, as target `llhttp`.
#
# 1. The generated C sources (llhttp.c api.c http.c + llhttp.h), compiled here. Preferred:
#    RFC 9112 strictness (LLHTTP_STRICT_MODE, set by src/http) is a compile-time switch of
#    llhttp.c, so only a build from source is known to be strict. Searched in LLHTTP_ROOT
#    (cache or environment), the CMAKE_PREFIX_PATH and system prefixes, including Debian's
#    node-llhttp layout (<prefix>/share/llhttp/*.c, <prefix>/share/include/llhttp/llhttp.h).
# 2. Otherwise an installed library: pkg-config `libllhttp` (upstream's .pc) or upstream's
#    CMake package `llhttp`. Its strictness is whatever it was built with; the integration
#    test proxy_malformed shows the difference.
#
# Sets LLHTTP_FOUND, LLHTTP_INCLUDE_DIR, LLHTTP_SOURCE_DIR (case 1), LLHTTP_KIND
# ("source" | "pkg-config" | "cmake-package").
include(FindPackageHandleStandardArgs)

set(LLHTTP_ROOT "$ENV{LLHTTP_ROOT}" CACHE PATH "Prefix or directory holding llhttp")
find_path(LLHTTP_SOURCE_DIR NAMES llhttp.c api.c http.c
          HINTS ${LLHTTP_ROOT}
          PATH_SUFFIXES share/llhttp llhttp src
          DOC "llhttp generated C sources")
find_path(LLHTTP_INCLUDE_DIR NAMES llhttp.h
          HINTS ${LLHTTP_ROOT} ${LLHTTP_SOURCE_DIR}/../include
          PATH_SUFFIXES include/llhttp share/include/llhttp include llhttp
          DOC "llhttp.h")

if(LLHTTP_SOURCE_DIR AND LLHTTP_INCLUDE_DIR)
  set(LLHTTP_KIND source)
  if(NOT TARGET llhttp)
    add_library(llhttp STATIC ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c
                              ${LLHTTP_SOURCE_DIR}/http.c)
    target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
    target_compile_options(llhttp PRIVATE -w -O2)
    set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
else()
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(PC_LLHTTP QUIET IMPORTED_TARGET libllhttp)
  endif()
  if(PC_LLHTTP_FOUND)
    set(LLHTTP_KIND pkg-config)
    set(LLHTTP_INCLUDE_DIR ${PC_LLHTTP_INCLUDE_DIRS})
    set(LLHTTP_SOURCE_DIR "")
    add_library(llhttp INTERFACE)
    target_link_libraries(llhttp INTERFACE PkgConfig::PC_LLHTTP)
  else()
    find_package(llhttp CONFIG QUIET)
    if(TARGET llhttp::llhttp_shared OR TARGET llhttp::llhttp_static)
      set(LLHTTP_KIND cmake-package)
      set(LLHTTP_INCLUDE_DIR "(from llhttp's CMake package)")
      set(LLHTTP_SOURCE_DIR "")
      add_library(llhttp INTERFACE)
      if(TARGET llhttp::llhttp_static)
        target_link_libraries(llhttp INTERFACE llhttp::llhttp_static)
      else()
        target_link_libraries(llhttp INTERFACE llhttp::llhttp_shared)
      endif()
    endif()
  endif()
endif()

find_package_handle_standard_args(LLHTTP REQUIRED_VARS LLHTTP_KIND LLHTTP_INCLUDE_DIR)
if(LLHTTP_FOUND AND NOT LLHTTP_KIND STREQUAL "source")
  message(WARNING "llhttp: using an installed library (${LLHTTP_KIND}); its RFC 9112 strict "
                  "mode is whatever it was built with. Set LLHTTP_ROOT to llhttp's generated "
                  "sources to build it strict.")
endif()
mark_as_advanced(LLHTTP_SOURCE_DIR LLHTTP_INCLUDE_DIR)
