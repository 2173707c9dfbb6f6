/* The writer thread: chunks submitted from several threads all reach the file, in order
 * per submitter; a reopen after a rename writes to a new file at the path; an unopenable
 * path is an error at creation.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "accesslog/accesslog.h"
#include "base/base.h"
#include "support/support.h"

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *s;
    long n;

    cr_assert_not_null(fp, "%s", path);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    s = bg_xmalloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, fp)] = '\0';
    fclose(fp);
    return s;
}

static bg_alog_t *shared;

static void submitter(void *arg)
{
    int id = (int)(intptr_t)arg;

    for (int i = 0; i < 1000; i++) {
        char *line = bg_asprintf("t%d %d\n", id, i);
        bg_alog_submit(shared, line, strlen(line));
    }
}

Test(accesslog_writer, every_chunk_reaches_the_file_in_order)
{
    char *dir = bgt_tmpdir("alog"), *path = bg_asprintf("%s/a.log", dir), *s;
    uv_thread_t th[4];
    bg_err_t err;
    int next[4] = {0};

    bg_err_clear(&err);
    shared = bg_alog_new(path, BG_ALOG_JSON, &err);
    cr_assert_not_null(shared, "%s", err.msg);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(uv_thread_create(&th[i], submitter, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++)
        uv_thread_join(&th[i]);
    bg_alog_free(shared); /* writes what is queued */
    s = slurp(path);
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int t, n;
        cr_assert_eq(sscanf(l, "t%d %d", &t, &n), 2, "bad line %s", l);
        cr_assert_eq(n, next[t], "thread %d: got %d, expected %d", t, n, next[t]);
        next[t]++;
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(next[i], 1000);
    free(s);
    free(path);
    free(dir);
}

static bool has_reopened(void *arg)
{
    return bg_alog_reopens(arg) == 1;
}

static bool has(void *arg)
{
    FILE *fp = fopen(arg, "r");
    char buf[64] = "";

    if (fp == NULL)
        return false;
    (void)!fgets(buf, sizeof(buf), fp);
    fclose(fp);
    return strstr(buf, "after") != NULL;
}

Test(accesslog_writer, reopen_after_rename)
{
    char *dir = bgt_tmpdir("alog"), *path = bg_asprintf("%s/a.log", dir);
    char *moved = bg_asprintf("%s/a.log.1", dir), *s;
    bg_err_t err;
    bg_alog_t *l;

    bg_err_clear(&err);
    l = bg_alog_new(path, BG_ALOG_JSON, &err);
    cr_assert_not_null(l);
    bg_alog_submit(l, bg_strdup("before\n"), 7);
    cr_assert_eq(rename(path, moved), 0);
    bg_alog_reopen(l);
    cr_assert(bgt_wait_until(has_reopened, l, 5000), "no reopen");
    bg_alog_submit(l, bg_strdup("after\n"), 6);
    cr_assert(bgt_wait_until(has, path, 5000), "nothing in the new file");
    bg_alog_free(l);
    s = slurp(moved);
    cr_assert_str_eq(s, "before\n");
    free(s);
    s = slurp(path);
    cr_assert_str_eq(s, "after\n");
    free(s);
    free(moved);
    free(path);
    free(dir);
}

Test(accesslog_writer, unopenable_path_is_an_error)
{
    bg_err_t err;

    bg_err_clear(&err);
    cr_assert_null(bg_alog_new("/nonexistent-dir/x/a.log", BG_ALOG_JSON, &err));
    cr_assert(strstr(err.msg, "access_log: cannot open /nonexistent-dir/x/a.log") != NULL, "%s",
              err.msg);
}
