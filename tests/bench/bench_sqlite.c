/*  bench_sqlite.c -- SQLite's own rate for batched inserts into the store's schema (triggers
    and change log included), the yardstick for the mirror sink.

    bench_sqlite DB COUNT BATCH [VFS]
                                    creates a store at DB (or takes the empty store there,
                                    made by another build's `herald-store init`, so that one
                                    program measures two schemas), inserts COUNT events with one
                                    prepared INSERT, BATCH rows per transaction, and prints
                                    {"rows":N,"seconds":S,"per_second":R,
                                     "cpu_seconds":C,"cpu_per_second":N/C}
                                    C is the process's CPU time (user and system), which a
                                    loaded machine disturbs far less than the wall time.
                                    VFS: SQLite's default one unless named ("herald", the
                                    store's, keeps statement journals in memory: the same
                                    lever the mirror has, for a like-for-like figure).
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

static double s_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: bench_sqlite DB COUNT BATCH [VFS]\n");
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) == -1 || st.st_size == 0) {
        char err[512];
        store_t *store = store_new(argv[1], STORE_CREATE, err, sizeof err);
        if (!store) {
            fprintf(stderr, "bench_sqlite: %s\n", err);
            return 1;
        }
        store_destroy(&store);
    }
    long count = atol(argv[2]), batch = atol(argv[3]);
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, argc == 5 ? argv[4] : NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "bench_sqlite: %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", 0, 0, 0);
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO events (id, kind, title, start_date, end_date, city, "
                           "country, summary, url, status, people) VALUES "
                           "(?1, 'conference', ?2, '2026-01-01', '2026-01-03', 'Lyon', 'FR', "
                           "?3, 'https://example.org/e', 'scheduled', '[]')",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_sqlite: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    const char *summary = "A working meeting of experts sharing experience and best practice "
                          "with law enforcement officials from member countries, on the "
                          "prevention of trafficking and on inter-agency cooperation.";
    double start = s_now(), cpu = s_cpu();
    for (long i = 0; i < count; i++) {
        if (i % batch == 0) {
            sqlite3_exec(db, "BEGIN", 0, 0, 0);
        }
        char id[32], title[64];
        snprintf(id, sizeof id, "e%09ld", i);
        snprintf(title, sizeof title, "Benchmark conference number %ld", i);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, title, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, summary, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "bench_sqlite: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        sqlite3_reset(ins);
        if (i % batch == batch - 1 || i == count - 1) {
            sqlite3_exec(db, "COMMIT", 0, 0, 0);
        }
    }
    double secs = s_now() - start, cpu_secs = s_cpu() - cpu;
    printf("{\"rows\":%ld,\"seconds\":%.3f,\"per_second\":%.0f,\"cpu_seconds\":%.3f,"
           "\"cpu_per_second\":%.0f}\n",
           count, secs, count / secs, cpu_secs, cpu_secs > 0 ? count / cpu_secs : 0.0);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return 0;
}
