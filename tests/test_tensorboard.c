/* tensorboard: CRC-32C reference vectors, and a small independent reader
 * (TFRecord framing with both masked CRCs, then the protobuf wire format)
 * that reads back what the writer wrote: the file_version event first, then
 * each scalar's step, tag, value and scalars-plugin metadata. Also: corrupted
 * bytes are caught by the reader, and unusable paths give errors naming them. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/tensorboard.h"
#include "fixtures.h"

/* ---- the reader ------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *n)
{
    return (unsigned char *)file_contents(path, n);
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Splits buf into records, checking the length CRC and the data CRC.
 * Returns the number of records, or -1 (bad length CRC), -2 (bad data CRC),
 * -3 (truncated). */
#define MAX_RECORDS 16
struct record {
    const unsigned char *p;
    size_t n;
};

static int split_records(const unsigned char *buf, size_t n, struct record *out)
{
    size_t at = 0;
    int count = 0;
    while (at < n) {
        if (n - at < 12)
            return -3;
        uint64_t len = get_le(buf + at, 8);
        if ((uint32_t)get_le(buf + at + 8, 4) != tb_masked_crc32c(buf + at, 8))
            return -1;
        if (len > n - at - 12 || n - at - 12 - len < 4)
            return -3;
        const unsigned char *data = buf + at + 12;
        if ((uint32_t)get_le(data + len, 4) != tb_masked_crc32c(data, (size_t)len))
            return -2;
        ck_assert_int_lt(count, MAX_RECORDS);
        out[count].p = data;
        out[count].n = (size_t)len;
        count++;
        at += 12 + (size_t)len + 4;
    }
    return count;
}

/* One protobuf field: number, wire type, and the varint / fixed value or
 * the length-delimited bytes. */
struct field {
    unsigned num, wire;
    uint64_t v;
    const unsigned char *p;
    size_t n;
};

static uint64_t read_varint(const unsigned char **p, const unsigned char *end)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        ck_assert_msg(*p < end, "varint runs past the end");
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("varint longer than 10 bytes");
    return 0;
}

/* Next field of the message [*p, end); 0 at the end. */
static int next_field(const unsigned char **p, const unsigned char *end, struct field *f)
{
    if (*p >= end)
        return 0;
    uint64_t key = read_varint(p, end);
    f->num = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    f->p = NULL;
    f->n = 0;
    switch (f->wire) {
    case 0:
        f->v = read_varint(p, end);
        break;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        ck_assert_uint_ge((size_t)(end - *p), w);
        f->v = get_le(*p, (int)w);
        *p += w;
        break;
    }
    case 2:
        f->n = (size_t)read_varint(p, end);
        ck_assert_uint_ge((size_t)(end - *p), f->n);
        f->p = *p;
        *p += f->n;
        break;
    default:
        ck_abort_msg("unexpected wire type %u", f->wire);
    }
    return 1;
}

/* The decoded fields of an Event this writer produces
 * (event.proto, summary.proto, tensor.proto field numbers). */
struct event {
    double wall_time;
    int64_t step;
    char file_version[64];
    int has_summary, n_values;
    char tag[128];
    char plugin_name[32];
    int has_metadata_content;
    uint64_t data_class, dtype;
    int has_shape, n_dims;
    float value;
    int has_value;
    const unsigned char *summary; /* raw Summary bytes */
    size_t summary_n;
};

static void copy_str(char *dst, size_t cap, const struct field *f)
{
    ck_assert_uint_lt(f->n, cap);
    memcpy(dst, f->p, f->n);
    dst[f->n] = '\0';
}

static void decode_tensor(struct event *e, const unsigned char *p, const unsigned char *end)
{
    struct field f;
    while (next_field(&p, end, &f)) {
        if (f.num == 1 && f.wire == 0) {
            e->dtype = f.v;
        } else if (f.num == 2 && f.wire == 2) { /* TensorShapeProto: dim = 2 */
            e->has_shape = 1;
            const unsigned char *q = f.p;
            struct field g;
            while (next_field(&q, f.p + f.n, &g))
                e->n_dims += g.num == 2;
        } else if (f.num == 4 && f.wire == 2) { /* tensor_content */
            ck_assert_uint_eq(f.n, 4);
            uint32_t bits = (uint32_t)get_le(f.p, 4);
            memcpy(&e->value, &bits, 4);
            e->has_value++;
        } else if (f.num == 5) { /* float_val, packed or not */
            ck_abort_msg("writer used float_val; TF 2 writes tensor_content");
        } else {
            ck_abort_msg("unexpected TensorProto field %u", f.num);
        }
    }
}

static void decode_metadata(struct event *e, const unsigned char *p, const unsigned char *end)
{
    struct field f;
    while (next_field(&p, end, &f)) {
        if (f.num == 1 && f.wire == 2) { /* PluginData */
            const unsigned char *q = f.p;
            struct field g;
            while (next_field(&q, f.p + f.n, &g)) {
                if (g.num == 1 && g.wire == 2)
                    copy_str(e->plugin_name, sizeof e->plugin_name, &g);
                else if (g.num == 2)
                    e->has_metadata_content = 1;
            }
        } else if (f.num == 4 && f.wire == 0) {
            e->data_class = f.v;
        } else {
            ck_abort_msg("unexpected SummaryMetadata field %u", f.num);
        }
    }
}

static void decode_event(const struct record *r, struct event *e)
{
    memset(e, 0, sizeof *e);
    const unsigned char *p = r->p, *end = r->p + r->n;
    struct field f;
    while (next_field(&p, end, &f)) {
        if (f.num == 1 && f.wire == 1) {
            memcpy(&e->wall_time, &f.v, 8);
        } else if (f.num == 2 && f.wire == 0) {
            e->step = (int64_t)f.v;
        } else if (f.num == 3 && f.wire == 2) {
            copy_str(e->file_version, sizeof e->file_version, &f);
        } else if (f.num == 5 && f.wire == 2) {
            e->has_summary = 1;
            e->summary = f.p;
            e->summary_n = f.n;
            const unsigned char *q = f.p;
            struct field v;
            while (next_field(&q, f.p + f.n, &v)) {
                ck_assert_uint_eq(v.num, 1); /* Summary.value */
                e->n_values++;
                const unsigned char *s = v.p;
                struct field g;
                while (next_field(&s, v.p + v.n, &g)) {
                    if (g.num == 1 && g.wire == 2)
                        copy_str(e->tag, sizeof e->tag, &g);
                    else if (g.num == 8 && g.wire == 2)
                        decode_tensor(e, g.p, g.p + g.n);
                    else if (g.num == 9 && g.wire == 2)
                        decode_metadata(e, g.p, g.p + g.n);
                    else
                        ck_abort_msg("unexpected Summary.Value field %u", g.num);
                }
            }
        } else {
            ck_abort_msg("unexpected Event field %u wire %u", f.num, f.wire);
        }
    }
}

/* ---- helpers ---------------------------------------------------------------- */

static char tmp_root[64];

static void make_tmp(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/nnc_tb_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
}

static void join(char *out, size_t cap, const char *a, const char *b)
{
    ck_assert_int_lt(snprintf(out, cap, "%s/%s", a, b), (int)cap);
}

/* Writes a run of four scalars into ROOT/logs/train; returns the path. */
static char *write_run(void)
{
    char log[128];
    join(log, sizeof log, tmp_root, "logs");
    struct tb_writer *w;
    struct diag d;
    ck_assert_msg(tb_open(&w, log, "train", &d) == 0, "%s", d.msg);
    ck_assert_int_eq(tb_scalar(w, "epoch_loss", 0, 0.5, &d), 0);
    ck_assert_int_eq(tb_scalar(w, "epoch_loss", 1, 0.125, &d), 0);
    ck_assert_int_eq(tb_scalar(w, "epoch_accuracy", 1, 0.7, &d), 0);
    ck_assert_int_eq(tb_scalar(w, "epoch_learning_rate", 300, 1e-3, &d), 0);
    ck_assert_int_eq(tb_flush(w, &d), 0);
    char *path = strdup(tb_path(w));
    tb_close(w);
    return path;
}

static void remove_run(char *path)
{
    char dir[128];
    ck_assert_int_eq(unlink(path), 0);
    join(dir, sizeof dir, tmp_root, "logs/train");
    ck_assert_int_eq(rmdir(dir), 0);
    join(dir, sizeof dir, tmp_root, "logs");
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(rmdir(tmp_root), 0);
    free(path);
}

/* ---- tests ------------------------------------------------------------------ */

/* The CRC-32C check value (Castagnoli, as listed for CRC-32/ISCSI) and the
 * RFC 3720 B.4 vectors: 32 bytes of zeros, of 0xFF, and 0..31. */
START_TEST(test_crc32c_vectors)
{
    ck_assert_uint_eq(tb_crc32c("123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(tb_crc32c("", 0), 0);
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    ck_assert_uint_eq(tb_crc32c(buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    ck_assert_uint_eq(tb_crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ck_assert_uint_eq(tb_crc32c(buf, 32), 0x46DD794Eu);
    /* Mask: rotate right by 15, add 0xa282ead8 (mod 2^32). */
    uint32_t c = 0xE3069283u;
    ck_assert_uint_eq(tb_masked_crc32c("123456789", 9),
                      (uint32_t)(((c >> 15) | (c << 17)) + 0xa282ead8u));
}
END_TEST

START_TEST(test_roundtrip)
{
    make_tmp();
    double before = (double)time(NULL);
    char *path = write_run();
    double after = (double)time(NULL) + 1;

    /* Name: LOG/train/events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n>.v2 */
    char want[256], pid[32];
    join(want, sizeof want, tmp_root, "logs/train/events.out.tfevents.");
    ck_assert_msg(strncmp(path, want, strlen(want)) == 0, "%s", path);
    const char *secs = path + strlen(want);
    for (int i = 0; i < 10; i++)
        ck_assert(secs[i] >= '0' && secs[i] <= '9');
    ck_assert_int_eq(secs[10], '.');
    snprintf(pid, sizeof pid, ".%ld.", (long)getpid());
    ck_assert_ptr_nonnull(strstr(secs + 10, pid));
    ck_assert_str_eq(path + strlen(path) - 3, ".v2");

    size_t n;
    unsigned char *buf = slurp(path, &n);
    struct record rec[MAX_RECORDS];
    ck_assert_int_eq(split_records(buf, n, rec), 5);

    struct event e;
    decode_event(&rec[0], &e);
    ck_assert_str_eq(e.file_version, "brain.Event:2");
    ck_assert(!e.has_summary);
    ck_assert_int_eq(e.step, 0);
    ck_assert(e.wall_time == floor(e.wall_time)); /* whole seconds, as TF */
    ck_assert(e.wall_time >= before && e.wall_time <= after);
    double first_wall = e.wall_time;

    static const struct {
        const char *tag;
        long step;
        double value;
    } want_sc[] = {{"epoch_loss", 0, 0.5},
                   {"epoch_loss", 1, 0.125},
                   {"epoch_accuracy", 1, 0.7},
                   {"epoch_learning_rate", 300, 1e-3}};
    for (int i = 0; i < 4; i++) {
        decode_event(&rec[i + 1], &e);
        ck_assert(e.has_summary);
        ck_assert_int_eq(e.n_values, 1);
        ck_assert_str_eq(e.tag, want_sc[i].tag);
        ck_assert_int_eq(e.step, want_sc[i].step);
        ck_assert_int_eq(e.has_value, 1);
        ck_assert(e.value == (float)want_sc[i].value);
        ck_assert_uint_eq(e.dtype, 1); /* DT_FLOAT */
        ck_assert(e.has_shape);
        ck_assert_int_eq(e.n_dims, 0); /* scalar */
        ck_assert_str_eq(e.plugin_name, "scalars");
        ck_assert(!e.has_metadata_content);
        ck_assert_uint_eq(e.data_class, 1); /* DATA_CLASS_SCALAR */
        ck_assert(e.wall_time >= first_wall && e.wall_time <= after);
    }

    /* The Summary of the first scalar, byte for byte as computed by hand from
     * the .proto field numbers: Value{tag "epoch_loss", tensor{dtype 1,
     * tensor_shape {}, tensor_content 0.5f}, metadata{plugin_data{plugin_name
     * "scalars"}, data_class 1}}. */
    static const unsigned char summary[] = {
        0x0a, 0x27,                                                       /* value, 39 bytes */
        0x0a, 0x0a, 'e', 'p', 'o', 'c', 'h', '_', 'l', 'o', 's', 's',     /* tag */
        0x42, 0x0a, 0x08, 0x01, 0x12, 0x00, 0x22, 0x04, 0, 0, 0, 0x3f,    /* tensor */
        0x4a, 0x0d, 0x0a, 0x09, 0x0a, 0x07, 's', 'c', 'a', 'l', 'a', 'r', /* metadata */
        's', 0x20, 0x01};
    decode_event(&rec[1], &e);
    ck_assert_uint_eq(e.summary_n, sizeof summary);
    ck_assert(memcmp(e.summary, summary, sizeof summary) == 0);

    free(buf);
    remove_run(path);
}
END_TEST

/* Any single flipped byte is caught: in a length, in a stored CRC, in data. */
START_TEST(test_corruption_detected)
{
    make_tmp();
    char *path = write_run();
    size_t n;
    unsigned char *buf = slurp(path, &n);
    struct record rec[MAX_RECORDS];
    ck_assert_int_eq(split_records(buf, n, rec), 5);

    size_t second = (size_t)(rec[1].p - buf) - 12; /* start of record 2 */
    const struct {
        size_t at;
        int want;
    } cases[] = {
        {second + 0, -1},               /* length byte */
        {second + 9, -1},               /* length CRC */
        {second + 12 + 5, -2},          /* a data byte */
        {second + 12 + rec[1].n, -2},   /* data CRC */
        {n - 1, -2},                    /* last byte of the file */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf[cases[i].at] ^= 0x10;
        ck_assert_int_eq(split_records(buf, n, rec), cases[i].want);
        buf[cases[i].at] ^= 0x10;
    }
    ck_assert_int_eq(split_records(buf, n - 1, rec), -3); /* truncated */
    ck_assert_int_eq(split_records(buf, n, rec), 5);
    free(buf);
    remove_run(path);
}
END_TEST

START_TEST(test_negative_and_large_steps)
{
    make_tmp();
    struct tb_writer *w;
    struct diag d;
    ck_assert_msg(tb_open(&w, tmp_root, NULL, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(tb_scalar(w, "x", -2, -1.5, &d), 0);
    ck_assert_int_eq(tb_scalar(w, "x", 5000000000L, 3e38, &d), 0);
    char *path = strdup(tb_path(w));
    tb_close(w);
    size_t n;
    unsigned char *buf = slurp(path, &n);
    struct record rec[MAX_RECORDS];
    ck_assert_int_eq(split_records(buf, n, rec), 3);
    struct event e;
    decode_event(&rec[1], &e);
    ck_assert_int_eq(e.step, -2);
    ck_assert(e.value == -1.5f);
    decode_event(&rec[2], &e);
    ck_assert_int_eq(e.step, 5000000000L);
    ck_assert(e.value == 3e38f);
    free(buf);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(tmp_root), 0);
    free(path);
}
END_TEST

/* A log_dir under a regular file cannot be created: the error names the
 * path that failed, in the located "PATH: message" form. */
START_TEST(test_open_errors)
{
    make_tmp();
    char file[128], log[192];
    join(file, sizeof file, tmp_root, "plain");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    join(log, sizeof log, file, "logs");
    struct tb_writer *w = (struct tb_writer *)1;
    struct diag d;
    ck_assert_int_eq(tb_open(&w, log, "train", &d), -1);
    ck_assert_ptr_null(w);
    char want[256];
    snprintf(want, sizeof want, "%s: exists and is not a directory", file);
    ck_assert_str_eq(d.msg, want);

    /* The subdirectory itself is a file. */
    ck_assert_int_eq(tb_open(&w, tmp_root, "plain", &d), -1);
    ck_assert_str_eq(d.msg, want);

    ck_assert_int_eq(tb_open(&w, "", "train", &d), -1);
    ck_assert_ptr_nonnull(strstr(d.msg, "log_dir"));

    tb_close(NULL);
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(tmp_root), 0);
}
END_TEST

static Suite *tensorboard_suite(void)
{
    Suite *s = suite_create("tensorboard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crc32c_vectors);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_corruption_detected);
    tcase_add_test(tc, test_negative_and_large_steps);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tensorboard_suite());
}
