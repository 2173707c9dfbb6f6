# bg_module(NAME SOURCES... DEPS mod... LIBS lib...)
# Declares static library bg_<NAME> from sources in the calling directory, with src/ on the
# include path, and registers it in bgcore.
function(bg_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(bg_${name} STATIC ${M_SOURCES})
  target_include_directories(bg_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  foreach(d ${M_DEPS})
    target_link_libraries(bg_${name} PUBLIC bg_${d})
  endforeach()
  target_link_libraries(bg_${name} PUBLIC ${M_LIBS})
  set_property(GLOBAL APPEND PROPERTY BG_MODULES bg_${name})
endfunction()

# bg_unit_test(NAME SOURCES... LINK libs... LABELS l... TIMEOUT s)
# A Criterion test binary registered with ctest. Runs from the source root so tests can
# reach tests/data and build/ binaries by relative paths.
function(bg_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LINK;LABELS" ${ARGN})
  find_library(CRITERION_LIB criterion REQUIRED)
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LINK} ${CRITERION_LIB})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # -j1: Criterion runs each test in its own process; keep them sequential on 2 cores.
  add_test(NAME ${name} COMMAND ${name} -j1 --timeout ${T_TIMEOUT}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
                       ENVIRONMENT "BG_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()
