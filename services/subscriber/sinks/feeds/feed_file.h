/*  feed_file.h -- writes a feed file atomically: a reader (a web server, a sync client) sees
    the old file or the new one, never half of one, even across a power cut.
*/
#ifndef HERALD_FEED_FILE_H
#define HERALD_FEED_FILE_H

#include <stddef.h>

/*  Replaces the file at path with the len bytes of data: writes PATH.tmp beside it, fsyncs
    it, renames it over path and fsyncs the directory. The file is created mode 0644. 0, or -1
    with the reason (naming the path, with strerror's words) in err; then path is untouched
    and no PATH.tmp is left. */
int feed_file_write(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
