/* Semantic versions (SemVer 2.0.0) and npm-style version ranges.
 *
 * The compatibility gate (docs/design.md §6) asks one question many times: does a provided API
 * version satisfy a consumer's required range? Ranges are written the way npm users write
 * them (`^1.4`, `~2.3.0`, `>=1.2 <2 || 3.x`, `1.2 - 2.3.4`) and must mean exactly what the
 * `semver` npm package (node-semver 7.x, default options: not loose, no includePrerelease)
 * makes of them, quirks included: a differential test against the real package guards it.
 * This file knows nothing of services, matrices or gates; it is pure text and arithmetic.
 *
 * Thread: every function is reentrant and touches only its arguments (any thread). A parsed
 * bg_range_t is immutable, so it may be read from several threads at once.
 */
#ifndef BG_COMPAT_SEMVER_H
#define BG_COMPAT_SEMVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Limits node-semver enforces; we enforce the same so both accept the same versions. */
#define BG_SEMVER_MAX_LEN 256                    /* characters in one version */
#define BG_SEMVER_MAX_NUMBER 9007199254740991ULL /* 2^53 - 1, JavaScript's safe integer */

/* A parsed version. Caller storage: bg_semver_parse() fills it, bg_semver_fini() releases
 * the two strings. <prerelease> and <build> are the dot-separated identifiers without the
 * leading '-' / '+' ("beta.2", "sha.5114f85"), NULL when absent. Build metadata is kept for
 * formatting but never affects precedence (SemVer 2.0.0 §10). */
typedef struct bg_semver {
    uint64_t major, minor, patch;
    char *prerelease; /* owned, NULL if none */
    char *build;      /* owned, NULL if none */
} bg_semver_t;

/* A parsed range: a union (`||`) of comparator sets, each an intersection. Opaque. */
typedef struct bg_range bg_range_t;

/* Parses <s> strictly as MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (SemVer 2.0.0 §2, §9,
 * §10): numeric identifiers without leading zeros, identifiers of [0-9A-Za-z-], nothing
 * before or after (no 'v', no spaces). Also refuses what node-semver refuses: more than
 * BG_SEMVER_MAX_LEN characters, or a major/minor/patch above BG_SEMVER_MAX_NUMBER.
 * On success fills <out> (caller calls bg_semver_fini()) and returns 0. On failure returns
 * BG_EINVAL, leaves <out> zeroed and describes the first bad character in <err> (column is
 * 1-based, may be NULL). */
int bg_semver_parse(const char *s, bg_semver_t *out, bg_err_t *err);

/* Like bg_semver_parse() but accepts what node-semver's `new SemVer(s)` accepts: leading
 * and trailing whitespace and one leading 'v' ("v1.2.3", " 1.2.3\n"). The length limit
 * applies to <s> before trimming, as in node-semver. This is how bg_semver_satisfies()
 * reads its version. */
int bg_semver_parse_lenient(const char *s, bg_semver_t *out, bg_err_t *err);

/* Releases the strings of <v> and zeroes it. <v> may be NULL or already finished. */
void bg_semver_fini(bg_semver_t *v);

/* Deep copy of <src> into caller storage <dst>; release with bg_semver_fini(). */
void bg_semver_copy(bg_semver_t *dst, const bg_semver_t *src);

/* Precedence (SemVer 2.0.0 §11): <0, 0 or >0. Build metadata is ignored. One deliberate
 * node-semver compatibility: two all-digit prerelease identifiers longer than 2^53 compare
 * as JavaScript numbers (doubles), as node-semver does. */
int bg_semver_cmp(const bg_semver_t *a, const bg_semver_t *b);

/* Formats <v> as "1.2.3-beta.1+build.5" (build included when <with_build>). Caller frees. */
char *bg_semver_format(const bg_semver_t *v, bool with_build);

/* Parses the npm range <s>: `^ ~ ~> >= <= > < =` comparators, x-ranges (`1.x`, `1.2.*`,
 * `*`, ``, `1`, `1.2`), hyphen ranges (`1.2 - 2.3.4`), `||` unions and space-separated
 * intersections, with node-semver's leading `v`/`=` on versions and build metadata
 * ignored. Returns a new range (free with bg_range_free()), or NULL with <err> saying which
 * part failed, at which 1-based byte column of <s>, and what was expected. */
bg_range_t *bg_range_parse(const char *s, bg_err_t *err);

/* Frees <r>; NULL is a no-op. */
void bg_range_free(bg_range_t *r);

/* True when <v> satisfies <r> (node-semver `range.test()`): some comparator set admits it,
 * and if <v> has a prerelease, that set also has a comparator with the same
 * [major, minor, patch] and a prerelease (so `^1.2.3-beta.1` admits 1.2.3-beta.2 but not
 * 1.2.4-beta). Borrows both. */
bool bg_range_satisfies(const bg_range_t *r, const bg_semver_t *v);

/* The normalised comparator form, as node-semver's `range.range`: sets joined by "||",
 * comparators by " " (`^1.2` -> ">=1.2.0 <2.0.0-0"; `*` -> ""). Caller frees. */
char *bg_range_format(const bg_range_t *r);

/* True when some version could satisfy both <a> and <b> (node-semver
 * `Range#intersects`, same comparator-level rules). Borrows both. */
bool bg_range_intersects(const bg_range_t *a, const bg_range_t *b);

/* Convenience: parses <version> (bg_semver_parse_lenient()) and <range>, stores the
 * verdict in <*out> and returns 0. Returns BG_EINVAL when either does not parse; <err>
 * then names which one in its key ("range" or "version"); the range is checked first. */
int bg_semver_satisfies(const char *version, const char *range, bool *out, bg_err_t *err);

#endif
