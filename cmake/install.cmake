# install.cmake -- `cmake --install`: the four programs into PREFIX/bin, where
# deploy/systemd/*.service expect them (ExecStart=/usr/local/bin/..., the default prefix), and
# their man pages, made from their --help at build time by help2man, into
# PREFIX/share/man/man1. Without help2man (scripts/deps.sh installs it) no man pages.
# herald-sub's programs of one sink each go to LIBEXECDIR/herald
# (services/subscriber/CMakeLists.txt).
include(GNUInstallDirs)

set(HERALD_PROGRAMS herald-pub herald-sub herald-store herald-keygen)
install(TARGETS ${HERALD_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

find_program(HELP2MAN help2man)
if(NOT HELP2MAN)
    message(STATUS "help2man not found: no man pages (scripts/deps.sh installs it)")
elseif(CMAKE_CROSSCOMPILING)
    message(STATUS "cross-compiling: no man pages (help2man runs the programs)")
    set(HELP2MAN "")
else()
    # The NAME line of each page (help2man's --name).
    set(HERALD_MAN_NAME_herald-pub "publish an event store's changes over ZeroMQ")
    set(HERALD_MAN_NAME_herald-sub "receive Herald announcements into a sink")
    set(HERALD_MAN_NAME_herald-store "create, edit and dump a Herald event store")
    set(HERALD_MAN_NAME_herald-keygen "write a CURVE key pair for Herald")
    set(HERALD_MAN_PAGES "")
    foreach(program ${HERALD_PROGRAMS})
        set(page ${CMAKE_BINARY_DIR}/man/${program}.1)
        # --version-string: the project's version, not the build's (no git hash in the page).
        add_custom_command(OUTPUT ${page}
            COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
            COMMAND ${HELP2MAN} --no-info --no-discard-stderr
                    --version-string=${PROJECT_VERSION}
                    "--name=${HERALD_MAN_NAME_${program}}" --output=${page}
                    $<TARGET_FILE:${program}>
            DEPENDS ${program}
            COMMENT "help2man ${program}.1"
            VERBATIM)
        list(APPEND HERALD_MAN_PAGES ${page})
    endforeach()
    add_custom_target(man ALL DEPENDS ${HERALD_MAN_PAGES})
    install(FILES ${HERALD_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
