/* Deterministic fuzz driver for ctest (no clang/libFuzzer needed): runs one entry point of
 * this directory on every seed of the given corpus directories, then on a fixed number of
 * seeded pseudo-random mutations of them (bit flips, byte inserts/deletes, splices of two
 * seeds, CR/LF/NUL/space insertions). Same seed, same inputs, on every run.
 *
 *   fuzz_driver TARGET [-n MUTATIONS] [-s SEED] [-S SECONDS] DIR|FILE...
 *
 * TARGET is http, config, semver or release. Directories are read non-recursively (every regular
 * file). Stops mutating early after SECONDS (default 20) so that it stays bounded under
 * sanitizers on a loaded machine. Prints how many inputs ran. Exit status: 0, or 1 on a
 * usage / corpus error; an invariant failure or a sanitizer report aborts, after the
 * input has been written to fuzz-failure-TARGET.bin in the working directory.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"

#define FUZZ_MAX_INPUT (64 * 1024)

typedef struct input {
    uint8_t *data;
    size_t len;
} input_t;

typedef struct corpus {
    input_t *v;
    size_t n, cap;
} corpus_t;

static const char *target_name;
static const uint8_t *cur_data;
static size_t cur_len;

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void dump_current(void)
{
    char path[128];
    FILE *f;

    if (!cur_data || !target_name)
        return;
    snprintf(path, sizeof(path), "fuzz-failure-%s.bin", target_name);
    f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(cur_data, 1, cur_len, f);
    fclose(f);
    fprintf(stderr, "fuzz_driver: failing input (%zu bytes) written to %s\n", cur_len, path);
    cur_data = NULL;
}

static void on_abort(int sig)
{
    dump_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint64_t rng_state;

/* xorshift64*: small, deterministic, good enough to pick mutations */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static int read_file(const char *path, corpus_t *c)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (!f) {
        fprintf(stderr, "fuzz_driver: cannot open %s\n", path);
        return -1;
    }
    buf = malloc(FUZZ_MAX_INPUT);
    n = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (input_t){buf, n};
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file of <path> (sorted by name, for determinism), or <path> itself. */
static int load(const char *path, corpus_t *c)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_driver: %s does not exist\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return read_file(path, c);
    if (!(d = opendir(path)))
        return -1;
    while ((e = readdir(d)) != NULL) {
        char full[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
        }
        names[n++] = strdup(full);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = read_file(names[i], c);
        free(names[i]);
    }
    free(names);
    return rc;
}

static const uint8_t special[] = {'\r', '\n', '\0', ' ', '\t', ':', ';', ',', '"', '-', '.'};

/* Writes into <out> (capacity FUZZ_MAX_INPUT) a mutation of a random seed; returns its length. */
static size_t mutate(const corpus_t *c, uint8_t *out)
{
    const input_t *a = &c->v[rnd_below(c->n)];
    size_t len = a->len, rounds = 1 + rnd_below(4);

    memcpy(out, a->data, len);
    for (size_t r = 0; r < rounds; r++) {
        size_t pos = rnd_below(len + 1);
        switch (rnd_below(6)) {
        case 0: /* bit flip */
            if (len)
                out[rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
            break;
        case 1: /* random byte insert */
        case 2: /* special byte insert: CR, LF, NUL, space, separators */
            if (len < FUZZ_MAX_INPUT) {
                memmove(out + pos + 1, out + pos, len - pos);
                out[pos] = (r & 1) ? (uint8_t)rnd() : special[rnd_below(sizeof(special))];
                len++;
            }
            break;
        case 3: { /* delete a run */
            size_t n = len > pos ? 1 + rnd_below(len - pos < 16 ? len - pos : 16) : 0;
            memmove(out + pos, out + pos + n, len - pos - n);
            len -= n;
            break;
        }
        case 4: { /* splice: our prefix, another seed's suffix */
            const input_t *b = &c->v[rnd_below(c->n)];
            size_t from = rnd_below(b->len + 1);
            size_t n = b->len - from;
            if (pos + n > FUZZ_MAX_INPUT)
                n = FUZZ_MAX_INPUT - pos;
            memcpy(out + pos, b->data + from, n);
            len = pos + n;
            break;
        }
        default: /* duplicate a run (repeated headers, lines, chunks) */
            if (len > pos) {
                size_t n = 1 + rnd_below(len - pos < 64 ? len - pos : 64);
                if (len + n <= FUZZ_MAX_INPUT) {
                    memmove(out + pos + n, out + pos, len - pos);
                    len += n;
                }
            }
            break;
        }
    }
    return len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(int (*fn)(const uint8_t *, size_t), const uint8_t *data, size_t len)
{
    cur_data = data;
    cur_len = len;
    fn(data, len);
    cur_data = NULL;
}

int main(int argc, char **argv)
{
    int (*fn)(const uint8_t *, size_t) = NULL;
    corpus_t c = {0};
    unsigned long mutations = 20000, done = 0;
    double budget = 20, start;
    uint8_t *buf;
    int i;

    if (argc < 3) {
        fprintf(stderr, "usage: %s http|config|semver|release [-n N] [-s SEED] [-S SECS] DIR...\n",
                argv[0]);
        return 1;
    }
    target_name = argv[1];
    if (strcmp(argv[1], "http") == 0)
        fn = bg_fuzz_http_request;
    else if (strcmp(argv[1], "config") == 0)
        fn = bg_fuzz_config_load;
    else if (strcmp(argv[1], "semver") == 0)
        fn = bg_fuzz_semver_range;
    else if (strcmp(argv[1], "release") == 0)
        fn = bg_fuzz_release_file;
    if (!fn) {
        fprintf(stderr, "fuzz_driver: unknown target %s\n", argv[1]);
        return 1;
    }
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            mutations = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else if (strcmp(argv[i], "-S") == 0 && i + 1 < argc)
            budget = strtod(argv[++i], NULL);
        else if (load(argv[i], &c) != 0)
            return 1;
    }
    if (c.n == 0) {
        fprintf(stderr, "fuzz_driver: empty corpus\n");
        return 1;
    }
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(dump_current);
    signal(SIGABRT, on_abort);
    signal(SIGSEGV, on_abort);

    start = now_s();
    for (size_t k = 0; k < c.n; k++)
        run(fn, c.v[k].data, c.v[k].len);
    buf = malloc(FUZZ_MAX_INPUT);
    for (; done < mutations; done++) {
        if ((done & 63) == 0 && now_s() - start > budget)
            break;
        size_t len = mutate(&c, buf);
        run(fn, buf, len);
    }
    printf("fuzz_driver %s: %zu seeds + %lu mutations = %lu inputs in %.1f s\n", target_name,
           c.n, done, (unsigned long)c.n + done, now_s() - start);
    free(buf);
    for (size_t k = 0; k < c.n; k++)
        free(c.v[k].data);
    free(c.v);
    return 0;
}
