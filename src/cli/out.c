/* Output helpers shared by the verbs: JSON, colour, the target row, and the argument
 * checks that several verbs share (weights, addresses).
 *
 * Two layouts: on a terminal, aligned tables for people; when piped, one `kind key=value`
 * line per object whose keys never change, for scripts (values with spaces are quoted).
 */
#include "cli/internal.h"

#include <errno.h>

#include "base/base.h"

/* The admin API takes bodies up to 1 MiB; leave room for the JSON around a file. */
#define MAX_FILE_BYTES (900u * 1024u)

void bg_cli_print_json(bg_cli_t *cli, const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (s != NULL)
        fprintf(cli->out, "%s\n", s);
    free(s);
}

const char *bg_cli_jstr(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : dflt;
}

json_int_t bg_cli_jint(const json_t *obj, const char *key, json_int_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *bg_cli_sgr(const bg_cli_t *cli, const char *seq)
{
    return cli->color ? seq : "";
}

void bg_cli_print_kv(FILE *f, const char *key, const char *value)
{
    bool quote = value[0] == '\0' || strpbrk(value, " \t\"=\\\n") != NULL;

    fprintf(f, " %s=", key);
    if (!quote) {
        fputs(value, f);
        return;
    }
    fputc('"', f);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f); /* one object, one line */
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *const classes[] = {"2xx", "3xx", "4xx", "5xx", "failed"};

void bg_cli_print_target_header(bg_cli_t *cli)
{
    if (!cli->tty)
        return;
    fprintf(cli->out, "  %-6s %4s  %-21s %-10s %6s %6s %6s %6s %6s %6s  %s\n", "SLOT", "ID",
            "ADDRESS", "HEALTH", "2XX", "3XX", "4XX", "5XX", "FAILED", "ACTIVE", "REASON");
}

static const char *target_state(const json_t *t)
{
    if (json_is_true(json_object_get(t, "draining")))
        return "draining";
    return json_is_true(json_object_get(t, "healthy")) ? "healthy" : "unhealthy";
}

/* Why the target is in its state; "-" before anything was said (a static target starts
 * healthy and keeps an empty reason until its first transition). */
static const char *target_reason(const json_t *t)
{
    const char *r = bg_cli_jstr(json_object_get(t, "health"), "reason", "");
    return r[0] != '\0' ? r : "-";
}

static void print_target_row(bg_cli_t *cli, const json_t *t)
{
    const json_t *reqs = json_object_get(t, "requests");
    const char *state = target_state(t);
    const char *colour = strcmp(state, "healthy") == 0    ? BG_SGR_GREEN
                         : strcmp(state, "draining") == 0 ? BG_SGR_YELLOW
                                                          : BG_SGR_RED;

    /* The reason goes last: it is free text of any length ("DOWN (db: DOWN)"). */
    fprintf(cli->out, "  %-6s %4lld  %-21s %s%-10s%s", bg_cli_jstr(t, "slot", "?"),
            (long long)bg_cli_jint(t, "id", 0), bg_cli_jstr(t, "address", "?"),
            bg_cli_sgr(cli, colour), state, bg_cli_sgr(cli, BG_SGR_RESET));
    for (size_t i = 0; i < BG_ARRAY_LEN(classes); i++)
        fprintf(cli->out, " %6lld", (long long)bg_cli_jint(reqs, classes[i], 0));
    fprintf(cli->out, " %6lld  %s\n", (long long)bg_cli_jint(t, "active", 0), target_reason(t));
}

static void print_target_line(bg_cli_t *cli, const char *service, const json_t *t)
{
    const json_t *health = json_object_get(t, "health");
    const json_t *reqs = json_object_get(t, "requests");
    FILE *f = cli->out;

    fputs("target", f);
    bg_cli_print_kv(f, "service", service);
    bg_cli_print_kv(f, "slot", bg_cli_jstr(t, "slot", "?"));
    fprintf(f, " id=%lld", (long long)bg_cli_jint(t, "id", 0));
    bg_cli_print_kv(f, "address", bg_cli_jstr(t, "address", "?"));
    bg_cli_print_kv(f, "health", target_state(t));
    bg_cli_print_kv(f, "reason", target_reason(t));
    fprintf(f, " last_status=%lld", (long long)bg_cli_jint(health, "last_status", 0));
    for (size_t i = 0; i < BG_ARRAY_LEN(classes); i++)
        fprintf(f, " requests_%s=%lld", classes[i], (long long)bg_cli_jint(reqs, classes[i], 0));
    fprintf(f, " active=%lld\n", (long long)bg_cli_jint(t, "active", 0));
}

void bg_cli_print_target(bg_cli_t *cli, const char *service, const json_t *t)
{
    if (cli->tty)
        print_target_row(cli, t);
    else
        print_target_line(cli, service, t);
}

bool bg_cli_parse_weight(const char *s, uint32_t *out)
{
    uint64_t v;

    if (!bg_str_to_u64(bg_str(s), 100, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One "slot=N" argument into <weights>; <seen> tracks duplicates. */
static int parse_weight_arg(const char *arg, uint32_t weights[BG_SLOT_COUNT],
                            bool seen[BG_SLOT_COUNT], char *why, size_t why_size)
{
    const char *eq = strchr(arg, '=');
    char name[16];
    bg_slot_t slot;

    if (eq == NULL || (size_t)(eq - arg) >= sizeof(name)) {
        snprintf(why, why_size, "'%s' is not blue=N or green=N", arg);
        return BG_EINVAL;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
    if (!bg_slot_parse(name, &slot)) {
        snprintf(why, why_size, "'%s': the slot must be blue or green", arg);
        return BG_EINVAL;
    }
    if (seen[slot]) {
        snprintf(why, why_size, "%s is given twice", name);
        return BG_EINVAL;
    }
    if (!bg_cli_parse_weight(eq + 1, &weights[slot])) {
        snprintf(why, why_size, "'%s': the weight must be an integer from 0 to 100", arg);
        return BG_EINVAL;
    }
    seen[slot] = true;
    return 0;
}

int bg_cli_parse_traffic(int argc, char **argv, uint32_t weights[BG_SLOT_COUNT], char *why,
                         size_t why_size)
{
    bool seen[BG_SLOT_COUNT] = {false, false};

    for (int i = 0; i < argc; i++)
        if (parse_weight_arg(argv[i], weights, seen, why, why_size) != 0)
            return BG_EINVAL;
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        if (!seen[s]) {
            snprintf(why, why_size, "missing %s=N (both weights are needed)",
                     bg_slot_str((bg_slot_t)s));
            return BG_EINVAL;
        }
    }
    if (weights[BG_SLOT_BLUE] + weights[BG_SLOT_GREEN] != 100) {
        snprintf(why, why_size, "blue=%u green=%u add up to %u; they must add up to 100",
                 weights[BG_SLOT_BLUE], weights[BG_SLOT_GREEN],
                 weights[BG_SLOT_BLUE] + weights[BG_SLOT_GREEN]);
        return BG_EINVAL;
    }
    return 0;
}

bool bg_cli_address_is_valid(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    uint64_t port;

    if (colon == NULL || colon == addr)
        return false;
    if (addr[0] == '[' && colon[-1] != ']')
        return false;
    if (strpbrk(addr, " \t/") != NULL)
        return false;
    return bg_str_to_u64(bg_str(colon + 1), 65535, &port) && port > 0;
}

bool bg_cli_time_parse(const char *s, uint64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    unsigned frac = 0, digits = 0;
    int64_t days;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return false;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 3)
                frac = frac * 10 + (unsigned)(*s - '0');
    while (digits > 0 && digits < 3) {
        frac *= 10;
        digits++;
    }
    if (*s != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
        return false;
    /* Days from civil (H. Hinnant's algorithm), exact for the proleptic Gregorian calendar. */
    y -= mo <= 2;
    {
        int era = y / 400, yoe = y - era * 400;
        int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        days = (int64_t)era * 146097 + doe - 719468;
    }
    *ms = (uint64_t)(((days * 24 + h) * 60 + mi) * 60 + sec) * 1000 + frac;
    return true;
}

const char *bg_cli_duration_str(uint64_t ms, char *out, size_t size)
{
    uint64_t s = ms / 1000;

    if (ms < 1000)
        snprintf(out, size, "%llums", (unsigned long long)ms);
    else if (ms < 60000)
        snprintf(out, size, "%.1fs", (double)ms / 1000.0);
    else if (s < 3600)
        snprintf(out, size, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, size, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    return out;
}

int bg_cli_read_file(bg_cli_t *cli, const char *path, char **text)
{
    FILE *f = fopen(path, "r");
    bg_buf_t b;
    char chunk[8192];
    size_t n;
    int rc = BG_EXIT_OK;

    *text = NULL;
    if (f == NULL)
        return bg_cli_fail(cli, BG_EXIT_USAGE, "%s: %s", path, strerror(errno));
    bg_buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= MAX_FILE_BYTES)
        bg_buf_append(&b, chunk, n);
    if (ferror(f))
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "%s: %s", path, strerror(errno));
    else if (b.len > MAX_FILE_BYTES)
        rc = bg_cli_fail(cli, BG_EXIT_USAGE,
                         "%s: larger than %u KiB; the admin API takes "
                         "1 MiB",
                         path, MAX_FILE_BYTES / 1024);
    else if (memchr(b.data ? b.data : "", '\0', b.len) != NULL)
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "%s: not a text file", path);
    fclose(f);
    bg_buf_append(&b, "", 0);
    if (rc == BG_EXIT_OK)
        *text = bg_buf_steal(&b);
    bg_buf_fini(&b);
    return rc;
}
