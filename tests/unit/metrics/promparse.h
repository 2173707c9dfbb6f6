/* A strict reader of Prometheus text format 0.0.4 for tests: checks the grammar line by
 * line (HELP/TYPE before samples, one contiguous group per family, label escaping, float
 * values) and histogram rules (cumulative buckets monotone, +Inf last and equal to
 * _count), and keeps the samples for lookups.
 */
#ifndef BG_TESTS_PROMPARSE_H
#define BG_TESTS_PROMPARSE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct prom_sample {
    char name[128];
    char labels[512]; /* unescaped, in exposition order: "service=orders,slot=blue" */
    double value;
} prom_sample_t;

typedef struct prom {
    prom_sample_t *samples;
    size_t n;
    char err[512]; /* why prom_parse() failed: "line 7: ..." */
} prom_t;

bool prom_parse(const char *text, prom_t *out);
void prom_fini(prom_t *p);
/* Value of sample <name> with exactly <labels>; *found tells whether it exists. */
double prom_get(const prom_t *p, const char *name, const char *labels, bool *found);
/* Number of samples named <name>. */
size_t prom_count(const prom_t *p, const char *name);

#endif
