# Unit tests for CTest, written by hand (no CMake needed): `ctest --test-dir .`
# Each tests/unit/test_*.cpp is a small program built by `make`; it exits
# non-zero and says what differed when a check fails. The list is found here
# by globbing, so a new test file is run without being registered anywhere.
# SMOOTH_BUILD picks the build directory (build, or build-asan for `make asan`).
# (CTest reads this file from the repository root, so relative paths start there.)
file(REAL_PATH "." ROOT)
set(BUILD "$ENV{SMOOTH_BUILD}")
if(NOT BUILD)
  set(BUILD "build")
endif()

file(GLOB UNIT_SOURCES "${ROOT}/tests/unit/test_*.cpp")
list(SORT UNIT_SOURCES)
foreach(source ${UNIT_SOURCES})
  get_filename_component(program "${source}" NAME_WE)
  string(REGEX REPLACE "^test_" "" name "${program}")
  add_test(${name} "${ROOT}/${BUILD}/tests/${program}")
endforeach()

# Not a program: the rule that a src/ folder includes only from folders below it.
add_test(layers /usr/bin/python3 "${ROOT}/tests/layers.py")
