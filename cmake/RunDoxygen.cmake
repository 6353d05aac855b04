# Runs Doxygen on the project's Doxyfile with the output directory redirected into the build tree,
# and fails if Doxygen printed any warning (WARN_AS_ERROR also stops it, this catches the rest).
# With -DPYTHON=... -DBUILD_DIR=..., the site also gets the claims index, a page generated from
# the chapters' claims tables, the tests CTest knows in BUILD_DIR and, where they exist, the
# JUnit files of the last `scripts/test` run: BUILD_DIR/ctest-results.xml (the documentation
# checks) and the sanitizer build's beside it, build/asan/ctest-results.xml (the behaviour tests).
# Usage: cmake -DDOXYGEN=... -DSOURCE_DIR=... -DOUTPUT_DIR=... [-DPYTHON=... -DBUILD_DIR=...]
#              -P RunDoxygen.cmake
file(MAKE_DIRECTORY ${OUTPUT_DIR})
file(READ ${SOURCE_DIR}/Doxyfile config)
string(APPEND config "\nOUTPUT_DIRECTORY = ${OUTPUT_DIR}\nWARN_LOGFILE = ${OUTPUT_DIR}/warnings.log\n")
if(PYTHON AND BUILD_DIR)
    set(index ${OUTPUT_DIR}/claims_index.md)
    execute_process(COMMAND ${PYTHON} ${SOURCE_DIR}/tests/docs/claims_index.py page ${SOURCE_DIR}
                            ${BUILD_DIR} ${index} ${BUILD_DIR}/ctest-results.xml
                            ${BUILD_DIR}/../asan/ctest-results.xml
                    RESULT_VARIABLE index_rc)
    if(NOT index_rc EQUAL 0)
        message(FATAL_ERROR "The claims index could not be generated (exit ${index_rc})")
    endif()
    string(APPEND config "INPUT += ${index}\n")
endif()
# The chapters' figures (lessons/NN-*/figures/*.svg, drawn by scripts/render-chapters): a
# Markdown image is found by its file name in IMAGE_PATH, which Doxygen does not search
# recursively.
file(GLOB figure_dirs LIST_DIRECTORIES true ${SOURCE_DIR}/lessons/*/figures ${SOURCE_DIR}/lessons/figures)
foreach(dir IN LISTS figure_dirs)
    string(APPEND config "IMAGE_PATH += ${dir}\n")
endforeach()
file(WRITE ${OUTPUT_DIR}/Doxyfile.effective "${config}")
execute_process(COMMAND ${DOXYGEN} ${OUTPUT_DIR}/Doxyfile.effective
                WORKING_DIRECTORY ${SOURCE_DIR}
                RESULT_VARIABLE rc OUTPUT_QUIET)
file(READ ${OUTPUT_DIR}/warnings.log warnings)
if(NOT rc EQUAL 0 OR NOT warnings STREQUAL "")
    message(FATAL_ERROR "Doxygen failed (exit ${rc}). Warnings:\n${warnings}")
endif()
message(STATUS "Doxygen site: ${OUTPUT_DIR}/html/index.html")
