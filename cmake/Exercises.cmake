# Exercise switching. Each chapter's exercise is one source file that stands in for one reference
# source file. `COURSE_EXERCISES` picks the chapters whose stubs are built instead of the reference:
#   -DCOURSE_EXERCISES=         reference everywhere (the default build)
#   -DCOURSE_EXERCISES=all      every chapter's stub (the `exercises` preset)
#   -DCOURSE_EXERCISES="01;03"  only those chapters' stubs
# The choice stays in the build's cache: re-running `cmake --preset exercises` keeps it (the
# preset does not set it; an exercise build starts with all, see COURSE_EXERCISE_BUILD).

# course_piece(<out-var> CHAPTER <NN> REFERENCE <file> EXERCISE <file>)
# Sets <out-var> to the file to compile for this piece, and records the choice.
function(course_piece out_var)
    cmake_parse_arguments(PIECE "" "CHAPTER;REFERENCE;EXERCISE" "" ${ARGN})
    set(chosen ${PIECE_REFERENCE})
    if(COURSE_EXERCISES STREQUAL "all" OR PIECE_CHAPTER IN_LIST COURSE_EXERCISES)
        set(chosen ${PIECE_EXERCISE})
        message(STATUS "Exercise: chapter ${PIECE_CHAPTER} builds ${PIECE_EXERCISE}")
    endif()
    # COURSE_PIECE_<NN>=<file> builds that file instead (scripts/exercise --mutants copies each
    # mutant there in turn; after the first configure, only the copy changes).
    if(COURSE_PIECE_${PIECE_CHAPTER})
        set(chosen ${COURSE_PIECE_${PIECE_CHAPTER}})
        message(STATUS "Exercise: chapter ${PIECE_CHAPTER} builds ${chosen} (COURSE_PIECE_${PIECE_CHAPTER})")
    endif()
    if(NOT EXISTS ${chosen})
        message(FATAL_ERROR "course_piece: ${chosen} does not exist")
    endif()
    set(${out_var} ${chosen} PARENT_SCOPE)
endfunction()

# course_chapter_target(lessonNN <target>...)
# Adds targets to the build target lessonNN, which builds what chapter NN's tests need: its
# test programs and the course's programs (`cmake --build --preset exercises --target lesson03`).
function(course_chapter_target chapter)
    if(NOT TARGET ${chapter})
        add_custom_target(${chapter})
        add_dependencies(${chapter} course_programs)
    endif()
    if(ARGN)
        add_dependencies(${chapter} ${ARGN})
    endif()
endfunction()

# course_programs: every program the integration tests start (the executables under
# raw_sockets/ and http_min/), so that a chapter target can build them and nothing else.
function(course_collect_programs)
    set(programs "")
    set(pending ${PROJECT_SOURCE_DIR}/raw_sockets ${PROJECT_SOURCE_DIR}/http_min)
    while(pending)
        list(POP_FRONT pending directory)
        get_property(subdirectories DIRECTORY ${directory} PROPERTY SUBDIRECTORIES)
        list(APPEND pending ${subdirectories})
        get_property(targets DIRECTORY ${directory} PROPERTY BUILDSYSTEM_TARGETS)
        foreach(target IN LISTS targets)
            get_target_property(type ${target} TYPE)
            get_target_property(excluded ${target} EXCLUDE_FROM_ALL)
            if(type STREQUAL "EXECUTABLE" AND NOT excluded)
                list(APPEND programs ${target})
            endif()
        endforeach()
    endwhile()
    add_custom_target(course_programs)
    if(programs)
        add_dependencies(course_programs ${programs})
    endif()
endfunction()

# course_label_exercise_tests()
# Call at the end of a directory that registers tests. Each chapter's exercise/tests.txt lists
# regular expressions (one per line, # starts a comment) matching the names of the tests that
# run the exercise's code; those tests get the label exerciseNN besides lessonNN. Mutants and
# `scripts/exercise NN` run them first, stopping at the first failure.
function(course_label_exercise_tests)
    get_property(tests DIRECTORY PROPERTY TESTS)
    file(GLOB lists ${PROJECT_SOURCE_DIR}/lessons/[0-9][0-9]-*/exercise/tests.txt)
    foreach(list_file IN LISTS lists)
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${list_file})
        get_filename_component(chapter_dir ${list_file} DIRECTORY)
        get_filename_component(chapter_dir ${chapter_dir} DIRECTORY)
        get_filename_component(chapter ${chapter_dir} NAME)
        string(SUBSTRING ${chapter} 0 2 number)
        file(STRINGS ${list_file} patterns REGEX "^[^#]")
        foreach(test IN LISTS tests)
            foreach(pattern IN LISTS patterns)
                string(STRIP "${pattern}" pattern)
                if(pattern AND test MATCHES "${pattern}")
                    set_property(TEST ${test} APPEND PROPERTY LABELS exercise${number})
                    break()
                endif()
            endforeach()
        endforeach()
    endforeach()
endfunction()
