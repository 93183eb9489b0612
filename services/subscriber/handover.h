/*  handover.h -- herald-sub hands a sink it does not link over to the sink's own program.

    herald-sub links the libraries of the log and the mirror sinks only (ZeroMQ, SQLite,
    Jansson, protobuf-c, libmicrohttpd), so that a process that logs or mirrors maps nothing
    else. Each other sink runs in a program of its own, herald-sub-NAME (mail, webhook,
    calendar, atom, nats: the same main with that sink too, sink_table.c), which maps that
    sink's libraries and no other's. They are installed in LIBEXECDIR/herald, not on PATH:
    herald-sub is the one program to run. It reads the whole command line first (it knows
    every sink's options, sink_elsewhere.c), then replaces itself with the sink's program,
    same arguments, same environment, same process id, so that a supervisor, a PID file or a
    container sees one process throughout; that program reads the command line again and
    checks it.
*/
#ifndef HERALD_HANDOVER_H
#define HERALD_HANDOVER_H

#include "sink.h"

/*  LIBEXECDIR/herald relative to BINDIR (CMake sets it from the install layout; the build
    tree has the same one). */
#ifndef SUB_HANDOVER_DIR
#define SUB_HANDOVER_DIR "../libexec/herald"
#endif
#define SUB_HANDOVER_VAR "HERALD_SUB_HANDOVER" /* set for the sink's program: what was handed */

/*  Replaces this process with herald-sub-NAME for the sink type (SUB_HANDOVER_DIR from this
    program's own directory), given argv as it is; what names what asked for it ("--sink",
    "mail-dead"). Returns only on failure: 1 (the exit status of a runtime failure) with the
    reason in err, which names the path looked for (no such program) or says that the
    program handed it back (SUB_HANDOVER_VAR set). */
int sub_handover(char **argv, const sink_type_t *type, const char *what, char *err, size_t errlen);

#endif
