/* Whole-file reads for configuration-sized inputs (config, revision, release, rules
 * files). Thread: control or CLI — never a data-plane worker (STYLE: workers touch no
 * files).
 */
#ifndef BG_BASE_FILE_H
#define BG_BASE_FILE_H

#include <stddef.h>

#include "base/err.h"

/* Reads all of <path> into a new NUL-terminated buffer: *text (caller frees) and *len.
 * On failure returns BG_EIO with <err> naming the file ("cannot open: ..."), and leaves
 * *text untouched. */
int bg_file_read(const char *path, char **text, size_t *len, bg_err_t *err);

#endif
