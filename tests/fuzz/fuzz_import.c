/*  fuzz_import.c -- libFuzzer target: store_import (JSON or NDJSON) on an in-memory store;
    an import that succeeds must export.

    Making a store (schema, triggers, prepared statements) costs about a hundred times more
    than importing a small input, so one store is made for the whole run and each input is
    imported inside a transaction that is rolled back afterwards: every input meets the same
    empty store, as with a fresh one (the import joins the open transaction; its own
    commit and rollback are covered by store_test and it_store_cli). What is left is mostly
    allocation (ASan's allocator is slow): SQLite's pages come from one buffer made at start
    and its small objects from a larger lookaside, and its memory statistics are off.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store_t *s_store; /* the one store of the run; freed by the process's exit */
static FILE *s_null;     /* /dev/null, where exports go */

static void s_die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, why);
    abort();
}

#define S_CACHE_PAGES 512 /* pages of STORE_PAGE_SIZE in SQLite's page buffer */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    int header = 0;
    sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &header);
    int slot = STORE_PAGE_SIZE + header;
    void *pages = malloc((size_t) slot * S_CACHE_PAGES); /* for the whole run */
    if (!pages || sqlite3_config(SQLITE_CONFIG_PAGECACHE, pages, slot, S_CACHE_PAGES) != 0 ||
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != 0 ||
        sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 512, 1024) != 0) {
        s_die("setup", "sqlite3_config");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (!s_store) {
        s_store = store_new(":memory:", STORE_CREATE, err, sizeof err);
        s_null = fopen("/dev/null", "w");
        if (!s_store || !s_null) {
            s_die("setup", s_store ? "cannot open /dev/null" : err);
        }
    }
    if (store_begin(s_store) != 0) {
        s_die("begin", store_error(s_store));
    }
    int64_t n = store_import(s_store, (const char *) data, size, err, sizeof err);
    if (n >= 0 && store_export(s_store, s_null) != 0) {
        s_die("an imported store does not export", store_error(s_store));
    }
    if (store_rollback(s_store) != 0) {
        s_die("rollback", store_error(s_store));
    }
    return 0;
}
