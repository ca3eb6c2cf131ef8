# cmake -DEXAMPLE=... -DCHECK=... -DOUT=dir -P run_example_test.cmake
# Runs the example on the inline and the threads executor, requires the same
# stdout from both, and checks the solution against a direct solve.
foreach(ex inline threads)
  execute_process(COMMAND ${EXAMPLE} --executor ${ex} --n 48 --blocks 4 --verbose
                  OUTPUT_VARIABLE out_${ex} ERROR_VARIABLE err_${ex} RESULT_VARIABLE rc_${ex}
                  TIMEOUT 100)
  if(NOT rc_${ex} EQUAL 0)
    message(FATAL_ERROR "example on ${ex} failed (${rc_${ex}}):\n${out_${ex}}\n${err_${ex}}")
  endif()
  file(WRITE ${OUT}/jacobi_${ex}.txt "${out_${ex}}")
  message(STATUS "${ex}: ${err_${ex}}")
endforeach()
if(NOT out_inline STREQUAL out_threads)
  message(FATAL_ERROR "inline and threads outputs differ:\n--- inline\n${out_inline}\n--- threads\n${out_threads}")
endif()
# progress lines come from SYNC tasks: they must be in iteration order
string(REGEX MATCHALL "iteration [0-9]+:" iters "${out_inline}")
set(i 1)
foreach(line ${iters})
  if(NOT line STREQUAL "iteration ${i}:")
    message(FATAL_ERROR "progress out of order: got '${line}', expected 'iteration ${i}:'")
  endif()
  math(EXPR i "${i} + 1")
endforeach()
string(REGEX MATCH "iterations: ([0-9]+)" _ "${out_inline}")
math(EXPR last "${i} - 1")
if(NOT CMAKE_MATCH_1 EQUAL last)
  message(FATAL_ERROR "${last} progress lines but ${CMAKE_MATCH_1} iterations")
endif()
execute_process(COMMAND ${CHECK} ${OUT}/jacobi_inline.txt RESULT_VARIABLE rc OUTPUT_VARIABLE o
                ERROR_VARIABLE e)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "direct-solve check failed:\n${o}${e}")
endif()
message(STATUS "${o}")
