# Tests of the wire layer (included from tests/c/CMakeLists.txt). test_wire.c
# exercises internal modules (wire/, store/), so it links the static library
# with the internal include paths, in an executable of its own.
add_executable(pydron_wiretests ${CMAKE_CURRENT_SOURCE_DIR}/test_wire.c)
target_link_libraries(pydron_wiretests PRIVATE pydron_static ${CRITERION_LIB} Threads::Threads m)
target_include_directories(pydron_wiretests PRIVATE ${PROJECT_SOURCE_DIR}/libpydron
                           ${PROJECT_BINARY_DIR}/proto)
target_compile_definitions(pydron_wiretests PRIVATE _GNU_SOURCE
                           PYDRON_WORKER_PATH="$<TARGET_FILE:pydron-worker>")
target_compile_options(pydron_wiretests PRIVATE ${PYDRON_WARNINGS})
add_dependencies(pydron_wiretests pydron-worker)
add_test(NAME c_wire COMMAND pydron_wiretests -j2)
set_tests_properties(c_wire PROPERTIES TIMEOUT 300)

# A shared object whose functions tests and benchmarks call through the
# "pydron.ffi" runner (dlopen'ed by the workers).
add_library(pydron_test_ffi SHARED ${CMAKE_CURRENT_SOURCE_DIR}/ffi_testlib.c)
target_link_libraries(pydron_test_ffi PRIVATE pydron)
set_target_properties(pydron_test_ffi PROPERTIES C_VISIBILITY_PRESET default)
if(TARGET pydron_ctests)
  target_compile_definitions(pydron_ctests PRIVATE
    PYDRON_TEST_FFI_LIB="$<TARGET_FILE:pydron_test_ffi>"
    PYDRON_WORKER_PATH="$<TARGET_FILE:pydron-worker>")
  add_dependencies(pydron_ctests pydron_test_ffi pydron-worker)
endif()
