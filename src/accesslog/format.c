/* Access log lines. JSON: one object per line with fixed keys (docs/admin-api.md "Access
 * log"); combined: the nginx/Apache combined format, then bluegreen's fields as key=value.
 * Formatting runs on the workers, so it only appends to a buffer.
 */
#include "accesslog/accesslog.h"

#include <inttypes.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static const char hex[] = "0123456789abcdef";

/* RFC 8259 §7 string body. */
static void json_str(bg_buf_t *out, const char *s, size_t len)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        bg_buf_append(out, s + run, i - run);
        run = i + 1;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            bg_buf_append(out, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            bg_buf_append(out, esc, 6);
        }
    }
    bg_buf_append(out, s + run, len - run);
}

static void json_field(bg_buf_t *out, const char *key, const char *s, size_t len)
{
    bg_buf_puts(out, key);
    if (s == NULL) {
        bg_buf_puts(out, "null");
        return;
    }
    bg_buf_puts(out, "\"");
    json_str(out, s, len);
    bg_buf_puts(out, "\"");
}

/* Decimal <v> without printf (formatting runs once per request on the workers). */
static void put_u64(bg_buf_t *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    bg_buf_append(out, tmp + sizeof(tmp) - n, n);
}

/* RFC 3339 time of <ms>: the "YYYY-MM-DDTHH:MM:SS" part is formatted once per second per
 * thread (gmtime is the costly part), the milliseconds every time. */
static void put_time(bg_buf_t *out, uint64_t ms)
{
    static _Thread_local uint64_t cached_sec = UINT64_MAX;
    static _Thread_local char cached[40];
    char ms3[4] = {(char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
                   (char)('0' + ms % 10), 'Z'};

    if (ms / 1000 != cached_sec) {
        bg_wall_format(ms - ms % 1000, cached); /* "YYYY-MM-DDTHH:MM:SS.000Z" */
        cached_sec = ms / 1000;
    }
    bg_buf_append(out, cached, 20); /* up to and including the '.' */
    bg_buf_append(out, ms3, 4);
}

static size_t slen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* Milliseconds with microsecond precision: "12.345". */
static void put_ms(bg_buf_t *out, uint64_t us)
{
    char frac[4] = {'.', (char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
                    (char)('0' + us % 10)};

    put_u64(out, us / 1000);
    bg_buf_append(out, frac, 4);
}

static void format_json(bg_buf_t *out, const bg_alog_record_t *r)
{
    bg_buf_puts(out, "{\"time\":\"");
    put_time(out, r->wall_ms);
    bg_buf_puts(out, "\"");
    json_field(out, ",\"request_id\":", r->request_id_len ? r->request_id : NULL,
               r->request_id_len);
    json_field(out, ",\"client\":", r->client, r->client_len);
    json_field(out, ",\"host\":", r->host, r->host_len);
    json_field(out, ",\"method\":", r->method, r->method_len);
    json_field(out, ",\"target\":", r->target, r->target_len);
    bg_buf_puts(out, r->h2 ? ",\"protocol\":\"HTTP/2.0\"" : r->minor == 0 ? ",\"protocol\":\"HTTP/1.0\""
                                                        : ",\"protocol\":\"HTTP/1.1\"");
    bg_buf_puts(out, ",\"status\":");
    put_u64(out, (uint64_t)(r->status > 0 ? r->status : 0));
    bg_buf_puts(out, ",\"bytes_in\":");
    put_u64(out, r->bytes_in);
    bg_buf_puts(out, ",\"bytes_out\":");
    put_u64(out, r->bytes_out);
    json_field(out, ",\"service\":", r->service, slen(r->service));
    json_field(out, ",\"slot\":", r->slot, slen(r->slot));
    json_field(out, ",\"version\":", r->version && *r->version ? r->version : NULL,
               slen(r->version));
    json_field(out, ",\"upstream\":", r->upstream, slen(r->upstream));
    bg_buf_puts(out, ",\"upstream_ms\":");
    if (r->upstream_us < 0)
        bg_buf_puts(out, "null");
    else
        put_ms(out, (uint64_t)r->upstream_us);
    bg_buf_puts(out, ",\"total_ms\":");
    put_ms(out, r->total_us);
    bg_buf_puts(out, ",\"retries\":");
    put_u64(out, r->retries);
    bg_buf_puts(out, "}\n");
}

/* nginx's escaping of logged variables: ", \ and bytes < 0x20 or >= 0x7f as \xHH. */
static void combined_str(bg_buf_t *out, const char *s, size_t len)
{
    if (s == NULL || len == 0) {
        bg_buf_puts(out, "-");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            char esc[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
            bg_buf_append(out, esc, 4);
        } else {
            bg_buf_append(out, s + i, 1);
        }
    }
}

static void format_combined(bg_buf_t *out, const bg_alog_record_t *r)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char ts[40];
    int y, mo, d, h, mi, s;

    /* bg_wall_format: "YYYY-MM-DDTHH:MM:SS.mmmZ" -> "[DD/Mon/YYYY:HH:MM:SS +0000]" */
    bg_wall_format(r->wall_ms, ts);
    if (sscanf(ts, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6 || mo < 1 || mo > 12)
        y = 1970, mo = 1, d = 1, h = mi = s = 0;
    combined_str(out, r->client, r->client_len);
    bg_buf_printf(out, " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"", d, mon[mo - 1], y, h, mi,
                  s);
    combined_str(out, r->method, r->method_len);
    bg_buf_puts(out, " ");
    combined_str(out, r->target, r->target_len);
    if (r->h2)
        bg_buf_printf(out, " HTTP/2.0\" %d %" PRIu64 " \"", r->status, r->bytes_out);
    else
        bg_buf_printf(out, " HTTP/1.%d\" %d %" PRIu64 " \"", r->minor, r->status, r->bytes_out);
    combined_str(out, r->referer, r->referer_len);
    bg_buf_puts(out, "\" \"");
    combined_str(out, r->user_agent, r->user_agent_len);
    bg_buf_puts(out, "\" request_id=");
    combined_str(out, r->request_id, r->request_id_len);
    bg_buf_puts(out, " host=");
    combined_str(out, r->host, r->host_len);
    bg_buf_puts(out, " service=");
    combined_str(out, r->service, slen(r->service));
    bg_buf_puts(out, " slot=");
    combined_str(out, r->slot, slen(r->slot));
    bg_buf_puts(out, " version=");
    combined_str(out, r->version, slen(r->version));
    bg_buf_puts(out, " upstream=");
    combined_str(out, r->upstream, slen(r->upstream));
    bg_buf_printf(out, " bytes_in=%" PRIu64 " upstream_ms=", r->bytes_in);
    if (r->upstream_us < 0)
        bg_buf_puts(out, "-");
    else
        put_ms(out, (uint64_t)r->upstream_us);
    bg_buf_puts(out, " total_ms=");
    put_ms(out, r->total_us);
    bg_buf_printf(out, " retries=%u\n", r->retries);
}

void bg_alog_format_line(bg_buf_t *out, bg_alog_format_t fmt, const bg_alog_record_t *r)
{
    if (fmt == BG_ALOG_COMBINED)
        format_combined(out, r);
    else
        format_json(out, r);
}
