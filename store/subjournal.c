/*  subjournal.c -- statement journals kept in memory: a VFS that is SQLite's default one
    except for the files SQLite opens with SQLITE_OPEN_SUBJOURNAL.

    Why: the change log's triggers call functions (the commit time, the people list), so SQLite
    journals the pages each write statement changes, in case that statement alone must be
    undone. With 16 KiB pages one upsert journals six or seven pages (about 110 KiB); past
    SQLite's 64 KiB in-memory limit the journal goes to a temporary file, about twelve
    16 KiB pwrites a record: half a mirror's time went there. SQLite's own knobs do not fit:
    SQLITE_CONFIG_STMTJRNL_SPILL above 128 KiB makes a statement that spills fail with
    SQLITE_FULL in SQLite 3.40.1 (Debian 12's), and temp_store = MEMORY keeps every statement
    journal in memory whatever its size, in 1 KiB pieces.

    Here a statement journal that passes 64 KiB goes to one growable buffer instead of a file,
    reused by the statements of the transaction (SQLite writes each from offset 0 again), and
    to a real temporary file only past STORE_SUBJOURNAL_MAX bytes (a mirror's reset, a
    migration): memory stays bounded. The journal is private to the connection and never
    outlives it, so nothing durable changes: a crash loses it exactly as it loses the file.
*/
#include "store_private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STORE_SUBJOURNAL_MAX (4 * 1024 * 1024)
#define S_SPILL_PIECE (64 * 1024)

typedef struct {
    sqlite3_file base;   /* methods: s_methods, or the real file's once spilled */
    sqlite3_file *real;  /* the temporary file past STORE_SUBJOURNAL_MAX, or NULL */
    unsigned char *data; /* the journal while in memory */
    sqlite3_int64 size;  /* its length */
    sqlite3_int64 cap;   /* bytes allocated at data */
    int flags;           /* xOpen's flags, for the real file */
} s_memfile_t;

static sqlite3_vfs s_vfs;      /* the default VFS with s_open */
static sqlite3_vfs *s_default; /* the VFS it wraps */

static int s_close(sqlite3_file *file)
{
    s_memfile_t *self = (s_memfile_t *) file;
    int rc = SQLITE_OK;
    if (self->real) {
        rc = self->real->pMethods ? self->real->pMethods->xClose(self->real) : SQLITE_OK;
        sqlite3_free(self->real);
    }
    sqlite3_free(self->data);
    return rc;
}

static int s_read(sqlite3_file *file, void *buf, int amount, sqlite3_int64 offset)
{
    s_memfile_t *self = (s_memfile_t *) file;
    if (self->real) {
        return self->real->pMethods->xRead(self->real, buf, amount, offset);
    }
    sqlite3_int64 have = offset < self->size ? self->size - offset : 0;
    if (have >= amount) {
        memcpy(buf, self->data + offset, (size_t) amount);
        return SQLITE_OK;
    }
    if (have > 0) {
        memcpy(buf, self->data + offset, (size_t) have);
    }
    memset((unsigned char *) buf + have, 0, (size_t) (amount - have));
    return SQLITE_IOERR_SHORT_READ; /* what a file says past its end */
}

/*  Moves the journal to a real temporary file. */
static int s_spill(s_memfile_t *self)
{
    sqlite3_file *real = sqlite3_malloc(s_default->szOsFile);
    if (!real) {
        return SQLITE_IOERR_NOMEM;
    }
    memset(real, 0, (size_t) s_default->szOsFile);
    int rc = s_default->xOpen(s_default, NULL, real, self->flags, NULL);
    /* in pieces: the unix VFS writes at most 128 KiB a call (it masks the length to 17 bits,
       SQLite's own pages being smaller), and said SQLITE_FULL to a larger write */
    for (sqlite3_int64 at = 0; rc == SQLITE_OK && at < self->size; at += S_SPILL_PIECE) {
        sqlite3_int64 n = self->size - at < S_SPILL_PIECE ? self->size - at : S_SPILL_PIECE;
        rc = real->pMethods->xWrite(real, self->data + at, (int) n, at);
    }
    if (rc != SQLITE_OK) {
        if (real->pMethods) {
            real->pMethods->xClose(real);
        }
        sqlite3_free(real);
        return rc;
    }
    self->real = real;
    sqlite3_free(self->data);
    self->data = NULL;
    self->size = self->cap = 0;
    return SQLITE_OK;
}

static int s_write(sqlite3_file *file, const void *buf, int amount, sqlite3_int64 offset)
{
    s_memfile_t *self = (s_memfile_t *) file;
    sqlite3_int64 end = offset + amount;
    if (!self->real && end > STORE_SUBJOURNAL_MAX) {
        int rc = s_spill(self);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    if (self->real) {
        return self->real->pMethods->xWrite(self->real, buf, amount, offset);
    }
    if (end > self->cap) {
        sqlite3_int64 cap = self->cap ? self->cap : 256 * 1024;
        while (cap < end) {
            cap *= 2;
        }
        if (cap > STORE_SUBJOURNAL_MAX) {
            cap = STORE_SUBJOURNAL_MAX;
        }
        unsigned char *data = sqlite3_realloc64(self->data, (sqlite3_uint64) cap);
        if (!data) {
            return SQLITE_IOERR_NOMEM;
        }
        self->data = data;
        self->cap = cap;
    }
    if (offset > self->size) {
        memset(self->data + self->size, 0, (size_t) (offset - self->size));
    }
    memcpy(self->data + offset, buf, (size_t) amount);
    if (end > self->size) {
        self->size = end;
    }
    return SQLITE_OK;
}

static int s_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    s_memfile_t *self = (s_memfile_t *) file;
    if (self->real) {
        return self->real->pMethods->xTruncate(self->real, size);
    }
    if (size < self->size) {
        self->size = size;
    }
    return SQLITE_OK;
}

static int s_sync(sqlite3_file *file, int flags)
{
    s_memfile_t *self = (s_memfile_t *) file;
    return self->real ? self->real->pMethods->xSync(self->real, flags) : SQLITE_OK;
}

static int s_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    s_memfile_t *self = (s_memfile_t *) file;
    if (self->real) {
        return self->real->pMethods->xFileSize(self->real, size);
    }
    *size = self->size;
    return SQLITE_OK;
}

static int s_lock(sqlite3_file *file, int level)
{
    (void) file;
    (void) level;
    return SQLITE_OK;
}

static int s_check_reserved(sqlite3_file *file, int *out)
{
    (void) file;
    *out = 0;
    return SQLITE_OK;
}

static int s_file_control(sqlite3_file *file, int op, void *arg)
{
    s_memfile_t *self = (s_memfile_t *) file;
    return self->real ? self->real->pMethods->xFileControl(self->real, op, arg) : SQLITE_NOTFOUND;
}

static int s_sector_size(sqlite3_file *file)
{
    (void) file;
    return 4096;
}

static int s_device(sqlite3_file *file)
{
    (void) file;
    return 0;
}

static const sqlite3_io_methods s_methods = {
    .iVersion = 1,
    .xClose = s_close,
    .xRead = s_read,
    .xWrite = s_write,
    .xTruncate = s_truncate,
    .xSync = s_sync,
    .xFileSize = s_file_size,
    .xLock = s_lock,
    .xUnlock = s_lock,
    .xCheckReservedLock = s_check_reserved,
    .xFileControl = s_file_control,
    .xSectorSize = s_sector_size,
    .xDeviceCharacteristics = s_device,
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void) vfs;
    if (!(flags & SQLITE_OPEN_SUBJOURNAL)) {
        return s_default->xOpen(s_default, name, file, flags, out_flags);
    }
    s_memfile_t *self = (s_memfile_t *) file;
    memset(self, 0, sizeof *self);
    self->base.pMethods = &s_methods;
    self->flags = flags;
    if (out_flags) {
        *out_flags = flags;
    }
    return SQLITE_OK;
}

static void s_register(void)
{
    s_default = sqlite3_vfs_find(NULL);
    if (!s_default) {
        return;
    }
    s_vfs = *s_default; /* its other methods take the VFS only for its pAppData: the same */
    s_vfs.zName = STORE_VFS;
    s_vfs.pNext = NULL;
    if (s_vfs.szOsFile < (int) sizeof(s_memfile_t)) {
        s_vfs.szOsFile = (int) sizeof(s_memfile_t);
    }
    s_vfs.xOpen = s_open;
    if (sqlite3_vfs_register(&s_vfs, 0) != SQLITE_OK) {
        s_default = NULL;
    }
}

const char *store_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_register);
    return s_default ? STORE_VFS : NULL;
}
