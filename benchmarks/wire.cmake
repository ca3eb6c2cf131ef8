# bench_wire: the local executor and value transfers against raw nng and
# memcpy baselines measured in the same run (included from CMakeLists.txt).
add_library(benchffi_tasks SHARED ${CMAKE_CURRENT_SOURCE_DIR}/bench_ffi.c)
target_link_libraries(benchffi_tasks PRIVATE pydron)
set_target_properties(benchffi_tasks PROPERTIES C_VISIBILITY_PRESET default)
add_executable(bench_wire ${CMAKE_CURRENT_SOURCE_DIR}/bench_wire.c)
target_link_libraries(bench_wire PRIVATE pydron_static nng::nng)
target_include_directories(bench_wire PRIVATE ${PROJECT_SOURCE_DIR}/libpydron
                           ${PROJECT_BINARY_DIR}/proto)
target_compile_options(bench_wire PRIVATE ${PYDRON_WARNINGS})
target_compile_definitions(bench_wire PRIVATE _GNU_SOURCE
  PYDRON_BENCH_FFI_LIB="$<TARGET_FILE:benchffi_tasks>"
  PYDRON_WORKER_PATH="$<TARGET_FILE:pydron-worker>")
add_dependencies(bench_wire benchffi_tasks pydron-worker)
if(PYDRON_TESTS)
  add_test(NAME bench_wire_smoke COMMAND bench_wire --tasks 2000 --rounds 200)
  set_tests_properties(bench_wire_smoke PROPERTIES TIMEOUT 300
    PASS_REGULAR_EXPRESSION "BENCH transfer_64mb [0-9]+ MB/s")
endif()
