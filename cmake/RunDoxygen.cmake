# Runs Doxygen on the project's Doxyfile with the output directory redirected into the build tree,
# and fails if Doxygen printed any warning (WARN_AS_ERROR also stops it, this catches the rest).
# Usage: cmake -DDOXYGEN=... -DSOURCE_DIR=... -DOUTPUT_DIR=... -P RunDoxygen.cmake
file(MAKE_DIRECTORY ${OUTPUT_DIR})
file(READ ${SOURCE_DIR}/Doxyfile config)
string(APPEND config "\nOUTPUT_DIRECTORY = ${OUTPUT_DIR}\nWARN_LOGFILE = ${OUTPUT_DIR}/warnings.log\n")
file(WRITE ${OUTPUT_DIR}/Doxyfile.effective "${config}")
execute_process(COMMAND ${DOXYGEN} ${OUTPUT_DIR}/Doxyfile.effective
                WORKING_DIRECTORY ${SOURCE_DIR}
                RESULT_VARIABLE rc OUTPUT_QUIET)
file(READ ${OUTPUT_DIR}/warnings.log warnings)
if(NOT rc EQUAL 0 OR NOT warnings STREQUAL "")
    message(FATAL_ERROR "Doxygen failed (exit ${rc}). Warnings:\n${warnings}")
endif()
message(STATUS "Doxygen site: ${OUTPUT_DIR}/html/index.html")
