# Exercise switching. Each chapter's exercise is one source file that stands in for one reference
# source file. `COURSE_EXERCISES` picks the chapters whose stubs are built instead of the reference:
#   -DCOURSE_EXERCISES=         reference everywhere (the default build)
#   -DCOURSE_EXERCISES=all      every chapter's stub (the `exercises` preset)
#   -DCOURSE_EXERCISES="01;03"  only those chapters' stubs

# course_piece(<out-var> CHAPTER <NN> REFERENCE <file> EXERCISE <file>)
# Sets <out-var> to the file to compile for this piece, and records the choice.
function(course_piece out_var)
    cmake_parse_arguments(PIECE "" "CHAPTER;REFERENCE;EXERCISE" "" ${ARGN})
    set(chosen ${PIECE_REFERENCE})
    if(COURSE_EXERCISES STREQUAL "all" OR PIECE_CHAPTER IN_LIST COURSE_EXERCISES)
        set(chosen ${PIECE_EXERCISE})
        message(STATUS "Exercise: chapter ${PIECE_CHAPTER} builds ${PIECE_EXERCISE}")
    endif()
    if(NOT EXISTS ${chosen})
        message(FATAL_ERROR "course_piece: ${chosen} does not exist")
    endif()
    set(${out_var} ${chosen} PARENT_SCOPE)
endfunction()
