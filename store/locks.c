/*  locks.c -- who holds a store's write lock, for the message of a write that waited in vain.

    SQLite takes POSIX advisory locks: in WAL mode the write lock is byte 120 of the -shm
    (WAL_WRITE_LOCK in wal.c), in rollback mode bytes of the database file. /proc/locks lists
    every POSIX lock of the machine with its pid and inode, so the holder can be named. Best
    effort: without /proc, or for a holder in another pid namespace, nothing is found.
*/
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define S_WAL_WRITE_LOCK 120 /* the -shm byte a WAL writer locks */

/*  The short name of process pid (its comm), or "" if unknown. */
static void s_comm(long pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        return;
    }
    if (fgets(out, (int) cap, f)) {
        out[strcspn(out, "\n")] = '\0';
    }
    fclose(f);
}

int store_lock_holder(const char *db_path, char *out, size_t cap)
{
    char shm_path[4096];
    snprintf(shm_path, sizeof shm_path, "%s-shm", db_path);
    struct stat db;
    struct stat shm;
    bool have_db = stat(db_path, &db) == 0;
    bool have_shm = stat(shm_path, &shm) == 0;
    FILE *f = fopen("/proc/locks", "re");
    if (!f || (!have_db && !have_shm)) {
        if (f) {
            fclose(f);
        }
        return 0;
    }
    long self = (long) getpid();
    long found = 0;
    char line[256];
    while (!found && fgets(line, sizeof line, f)) {
        /* "1: POSIX  ADVISORY  WRITE 3157 fd:00:10952827 120 120"; "1: -> ..." waits. */
        char kind[16];
        char mode[16];
        char access[16];
        long pid;
        unsigned major;
        unsigned minor;
        unsigned long ino;
        char start[24];
        if (strstr(line, "->") ||
            sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%lu %23s", kind, mode, access, &pid, &major,
                   &minor, &ino, start) != 8 ||
            strcmp(kind, "POSIX") != 0 || strcmp(access, "WRITE") != 0 || pid == self) {
            continue;
        }
        dev_t dev = makedev(major, minor);
        bool on_shm = have_shm && dev == shm.st_dev && ino == shm.st_ino &&
                      strtoll(start, NULL, 10) == S_WAL_WRITE_LOCK;
        bool on_db = have_db && dev == db.st_dev && ino == db.st_ino;
        if (on_shm || on_db) {
            found = pid;
        }
    }
    fclose(f);
    if (!found) {
        return 0;
    }
    char comm[32];
    s_comm(found, comm, sizeof comm);
    snprintf(out, cap, "pid %ld%s%s%s", found, comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
    return 1;
}
