# Wire-layer test settings, included at the end of tests/c/CMakeLists.txt.
#  - test_wire.c exercises internal modules (wire/, store/): it needs the
#    static library and the internal include paths.
#  - test_ffi.c / test_local.c call functions of pydron_test_ffi through the
#    "pydron.ffi" runner and start real pydron-worker processes.
add_library(pydron_test_ffi SHARED ${CMAKE_CURRENT_SOURCE_DIR}/ffi_testlib.c)
target_link_libraries(pydron_test_ffi PRIVATE pydron)
set_target_properties(pydron_test_ffi PROPERTIES C_VISIBILITY_PRESET default)

set(PYDRON_WIRE_TEST_DEFS
  _GNU_SOURCE
  PYDRON_TEST_FFI_LIB="$<TARGET_FILE:pydron_test_ffi>"
  PYDRON_WORKER_PATH="$<TARGET_FILE:pydron-worker>")

if(NOT TARGET test_wire)
  add_executable(test_wire ${CMAKE_CURRENT_SOURCE_DIR}/test_wire.c)
  target_link_libraries(test_wire PRIVATE pydron_static ${CRITERION_LIB} Threads::Threads)
  target_compile_options(test_wire PRIVATE ${PYDRON_WARNINGS})
  add_test(NAME test_wire COMMAND test_wire)
endif()
target_link_libraries(test_wire PRIVATE m)
target_include_directories(test_wire PRIVATE ${PROJECT_SOURCE_DIR}/libpydron
                           ${PROJECT_BINARY_DIR}/proto)

# test_shm.c: store/shm.c (internal) and the local executor over shared memory
if(TARGET test_shm)
  target_include_directories(test_shm PRIVATE ${PROJECT_SOURCE_DIR}/libpydron
                             ${PROJECT_BINARY_DIR}/proto)
endif()

foreach(t test_wire test_ffi test_local test_shm test_trace test_launch pydron_ctests)
  if(TARGET ${t})
    target_compile_definitions(${t} PRIVATE ${PYDRON_WIRE_TEST_DEFS})
    target_link_libraries(${t} PRIVATE m)
    add_dependencies(${t} pydron_test_ffi pydron-worker)
  endif()
endforeach()
foreach(t test_wire test_ffi test_local test_shm)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES TIMEOUT 600)
  endif()
endforeach()

# A driver program for process-level tests (driver SIGKILL, netns remote).
add_executable(pydron_wire_driver ${CMAKE_CURRENT_SOURCE_DIR}/wire_driver.c)
target_link_libraries(pydron_wire_driver PRIVATE pydron)
target_compile_definitions(pydron_wire_driver PRIVATE ${PYDRON_WIRE_TEST_DEFS})
add_dependencies(pydron_wire_driver pydron_test_ffi pydron-worker)
foreach(t test_local pydron_ctests)
  if(TARGET ${t})
    target_compile_definitions(${t} PRIVATE
      PYDRON_WIRE_DRIVER="$<TARGET_FILE:pydron_wire_driver>")
    add_dependencies(${t} pydron_wire_driver)
  endif()
endforeach()

# test_worker_restart.c: pydron-worker --restart with crashing C tasks
if(TARGET test_worker_restart)
  target_compile_definitions(test_worker_restart PRIVATE ${PYDRON_WIRE_TEST_DEFS})
  add_dependencies(test_worker_restart pydron_test_ffi pydron-worker)
  set_tests_properties(test_worker_restart PROPERTIES TIMEOUT 300)
endif()

# test_lineage.c: real workers SIGKILLed, values recomputed from lineage
if(TARGET test_lineage)
  target_compile_definitions(test_lineage PRIVATE ${PYDRON_WIRE_TEST_DEFS})
  add_dependencies(test_lineage pydron_test_ffi pydron-worker)
  set_tests_properties(test_lineage PROPERTIES TIMEOUT 300)
endif()

# test_remote_stop.c: stop never hangs (wire test hook, real workers dialing in)
if(TARGET test_remote_stop)
  target_compile_definitions(test_remote_stop PRIVATE ${PYDRON_WIRE_TEST_DEFS})
  target_include_directories(test_remote_stop PRIVATE ${PROJECT_SOURCE_DIR}/libpydron
                             ${PROJECT_BINARY_DIR}/proto)
  target_link_libraries(test_remote_stop PRIVATE m)
  add_dependencies(test_remote_stop pydron_test_ffi pydron-worker)
  set_tests_properties(test_remote_stop PROPERTIES TIMEOUT 300)
endif()

# The executor conformance suite: every shipped executor and "oot", an
# executor built in tests/c/oot/ against pydron.h ALONE (no libpydron
# include path, so an internal header cannot creep in).
add_library(pydron_test_oot STATIC ${CMAKE_CURRENT_SOURCE_DIR}/oot/oot_executor.c)
target_include_directories(pydron_test_oot PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_definitions(pydron_test_oot PRIVATE PYDRON_STATIC)
target_compile_options(pydron_test_oot PRIVATE ${PYDRON_WARNINGS})
target_link_libraries(pydron_test_oot PRIVATE Threads::Threads)
if(TARGET test_exec_suite)
  target_link_libraries(test_exec_suite PRIVATE pydron_test_oot m)
  target_compile_definitions(test_exec_suite PRIVATE ${PYDRON_WIRE_TEST_DEFS})
  add_dependencies(test_exec_suite pydron_test_ffi pydron-worker)
  set_tests_properties(test_exec_suite PROPERTIES TIMEOUT 600)
endif()
# ... and it includes nothing of libpydron: only <pydron.h>, the C library
# and its own header (a relative path into libpydron/ would defeat the point)
add_test(NAME oot_executor_uses_only_pydron_h
  COMMAND sh -c "! grep -nE '#[[:space:]]*include[[:space:]]*\"' ${CMAKE_CURRENT_SOURCE_DIR}/oot/oot_executor.c ${CMAKE_CURRENT_SOURCE_DIR}/oot/oot_executor.h | grep -v '\"oot_executor.h\"'")
