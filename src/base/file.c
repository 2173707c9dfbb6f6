/* Whole-file reads: see file.h. */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/compat.h"

int bg_file_read(const char *path, char **text, size_t *len, bg_err_t *err)
{
    FILE *f = fopen(path, "rbe");
    bg_buf_t b;
    char chunk[8192];
    size_t got;
    int rc = 0;

    if (f == NULL)
        return bg_err_set_at(err, BG_EIO, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
    bg_buf_init(&b);
    bg_buf_reserve(&b, 0);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        bg_buf_append(&b, chunk, got);
    if (ferror(f)) {
        rc = bg_err_set_at(err, BG_EIO, path, 0, 0, NULL, "cannot read: %s", strerror(errno));
        goto out;
    }
    *len = b.len;
    *text = bg_buf_steal(&b);
out:
    fclose(f);
    bg_buf_fini(&b);
    return rc;
}
