# Unit tests for CTest, written by hand (no CMake needed): `ctest --test-dir .`
# Each test is a small program built by `make` from tests/unit/test_*.cpp; it
# exits non-zero and says what differed when a check fails.
# SMOOTH_BUILD picks the build directory (build, or build-asan for `make asan`).
set(BUILD "$ENV{SMOOTH_BUILD}")
if(NOT BUILD)
  set(BUILD "build")
endif()
set(BIN "${CMAKE_CURRENT_LIST_DIR}/${BUILD}/tests")

add_test(buffer "${BIN}/test_buffer")
add_test(event_loop "${BIN}/test_event_loop")
add_test(self_pipe "${BIN}/test_self_pipe")
add_test(http_parser "${BIN}/test_http_parser")
add_test(framing "${BIN}/test_framing")
add_test(config "${BIN}/test_config")
add_test(http_response "${BIN}/test_http_response")
