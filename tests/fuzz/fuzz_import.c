/*  fuzz_import.c -- libFuzzer target: store_import (JSON or NDJSON) on a fresh in-memory
    store; an import that succeeds must export.
*/
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    store_t *store = store_new(":memory:", STORE_CREATE, err, sizeof err);
    if (!store) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    int64_t n = store_import(store, (const char *) data, size, err, sizeof err);
    if (n >= 0) {
        FILE *out = fopen("/dev/null", "w");
        if (!out || store_export(store, out) != 0) {
            fprintf(stderr, "fuzz: an imported store does not export: %s\n", store_error(store));
            abort();
        }
        fclose(out);
    }
    store_destroy(&store);
    return 0;
}
