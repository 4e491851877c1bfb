/* Scaffolding shared by the test programs (see fixtures.h). Temporary
 * files are made with mkstemp and removed before returning. */
#include "fixtures.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/summary.h"

/* ---- models from YAML text ------------------------------------------------- */

int load_model_text(const char *yaml, struct model *m, struct model_file *mf, struct diag *d)
{
    char path[] = "/tmp/nnc_test_model_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(yaml, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    int rc = model_load(path, m, mf, d);
    unlink(path);
    return rc;
}

void expect_model_error(const char *yaml, const char *want, int line)
{
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    int rc = load_model_text(yaml, &m, &mf, &d);
    if (rc == 0) {
        model_free(&m);
        model_file_close(&mf);
    }
    ck_assert_msg(rc < 0, "accepted:\n%s", yaml);
    ck_assert_msg(strstr(d.msg, want) != NULL, "message '%s' lacks '%s' for\n%s", d.msg, want,
                  yaml);
    if (line > 0) {
        char at[32];
        snprintf(at, sizeof at, ":%d:", line);
        ck_assert_msg(strstr(d.msg, at) != NULL, "'%s' is not located on line %d", d.msg, line);
    }
}

/* ---- files ------------------------------------------------------------------ */

char *file_contents(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = xrealloc(buf, (cap *= 2) + 1);
    }
    ck_assert_msg(!ferror(f), "%s: read error", path);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void file_put(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- captured output -------------------------------------------------------- */

FILE *capture_open(struct capture *c)
{
    memset(c, 0, sizeof *c);
    c->f = open_memstream(&c->text, &c->len);
    ck_assert_ptr_nonnull(c->f);
    return c->f;
}

struct json *capture_json(struct capture *c)
{
    json_init(&c->j, capture_open(c));
    return &c->j;
}

char *capture_close(struct capture *c)
{
    ck_assert_int_eq(fclose(c->f), 0);
    c->f = NULL;
    return c->text;
}

char *summary_text(const struct model *m)
{
    struct capture c;
    summary_print(m, capture_open(&c));
    return capture_close(&c);
}

char *layer_json_text(const struct layer *l, bool first)
{
    struct capture c;
    layer_to_json(l, first, capture_json(&c));
    return capture_close(&c);
}

char *yaml_layer_json(const char *yaml, size_t node, bool first)
{
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    ck_assert_msg(load_model_text(yaml, &m, &mf, &d) == 0, "%s\n%s", d.msg, yaml);
    ck_assert_uint_lt(node, m.n_nodes);
    char *text = layer_json_text(m.nodes[node].layer, first);
    model_free(&m);
    model_file_close(&mf);
    return text;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

const char *path_in(const char *dir, const char *name)
{
    static char bufs[4][256];
    static int k;
    char *p = bufs[k++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}
