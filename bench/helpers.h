/* bench/helpers.h — what bench/backend.c and bench/client.c share. Each of them is built
 * alone into one program (bench/build.sh: `gcc ... bench/<prog>.c`), so these are static
 * functions in a header, not a library. Define BENCH_PROG (the program's name, for
 * messages) before including it; include it after <errno.h>, <stdio.h>, <stdlib.h>,
 * <string.h> and <strings.h>.
 */
#ifndef BENCH_HELPERS_H
#define BENCH_HELPERS_H

#ifndef BENCH_PROG
#error "define BENCH_PROG before including bench/helpers.h"
#endif

/* The decimal number <s> (the whole string) in [lo, hi]; anything else ends the program
 * with exit status 2 and a message naming <s>. */
static long parse_long(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, BENCH_PROG ": bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

/* Case-insensitive search for header <name> in the head [p, end) (the first line, the
 * request or status line, is skipped); returns the start of its value (leading blanks
 * skipped) inside the head, or NULL. Borrows everything. */
static const char *find_header(const char *p, const char *end, const char *name)
{
    size_t nl = strlen(name);
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return NULL;
        p = eol + 1;
        if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
    }
}

#endif
