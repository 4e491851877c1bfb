/* init: Keras defaults, statistics and bounds of large fills for every kind,
 * fans of rank 0/1/2/4 shapes, orthogonal and identity matrices, seeded
 * fills, every accepted spelling and form, located errors (also against a
 * weight's shape), and the JSON serialization. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/init.h"
#include "fixtures.h"

/* Parses YAML text (named "t.yaml") as an initializer; returns init_parse's
 * result, with the message in d. */
static int parse_text(const char *text, struct initializer *out, struct diag *d)
{
    struct spec_doc doc;
    d->msg[0] = 0;
    if (spec_load_string(&doc, "t.yaml", text, strlen(text), d) != 0)
        ck_abort_msg("bad test YAML: %s", d->msg);
    ck_assert_ptr_nonnull(doc.root);
    int rc = init_parse(doc.root, out, d);
    spec_free(&doc);
    return rc;
}

static struct initializer parse_ok(const char *text)
{
    struct initializer in;
    struct diag d;
    ck_assert_msg(parse_text(text, &in, &d) == 0, "%s: %s", text, d.msg);
    return in;
}

static void assert_same(const struct initializer *a, const struct initializer *b)
{
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert(a->value == b->value && a->mean == b->mean && a->stddev == b->stddev);
    ck_assert(a->minval == b->minval && a->maxval == b->maxval && a->scale == b->scale);
    ck_assert(a->mode == b->mode && a->dist == b->dist && a->has_seed == b->has_seed);
    ck_assert(!a->has_seed || a->seed == b->seed);
}

static const char *parse_err(const char *text)
{
    static struct diag d;
    struct initializer in;
    ck_assert_msg(parse_text(text, &in, &d) == -1, "%s parsed", text);
    return d.msg;
}

/* ---- fills ---- */

struct stats {
    double mean, std, min, max, absmax;
};

static struct stats fill_stats(const struct initializer *in, const size_t *shape, int rank,
                               float **out)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    float *w = malloc((n ? n : 1) * sizeof *w);
    ck_assert_ptr_nonnull(w);
    struct rng r;
    rng_seed(&r, 1234);
    init_fill(in, w, shape, rank, &r);
    struct stats s = {0, 0, INFINITY, -INFINITY, 0};
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(isfinite(w[i]));
        sum += w[i];
        sum2 += (double)w[i] * w[i];
        s.min = fmin(s.min, w[i]);
        s.max = fmax(s.max, w[i]);
        s.absmax = fmax(s.absmax, fabs(w[i]));
    }
    s.mean = sum / (double)n;
    s.std = sqrt(fmax(0, sum2 / (double)n - s.mean * s.mean));
    if (out)
        *out = w;
    else
        free(w);
    return s;
}

static const size_t shape2[2] = {200, 300}; /* fan_in 200, fan_out 300 */

#define TRUNC 0.87962566103423978 /* stddev of N(0,1) truncated to [-2, 2] */

static void check_constant(const char *text, float v)
{
    struct initializer in = parse_ok(text);
    float *w;
    struct stats s = fill_stats(&in, shape2, 2, &w);
    ck_assert_msg(s.min == v && s.max == v, "%s: [%g, %g]", text, s.min, s.max);
    free(w);
}

/* Normal-like fill: mean and std within sampling error, all |w - mean| <=
 * bound (0 = no bound, then some values must exceed 2 std). */
static void check_normal(const char *text, const size_t *shape, int rank, double mean,
                         double std, double bound)
{
    struct initializer in = parse_ok(text);
    struct stats s = fill_stats(&in, shape, rank, NULL);
    double n = 1;
    for (int i = 0; i < rank; i++)
        n *= (double)shape[i];
    ck_assert_msg(fabs(s.mean - mean) <= 5 * std / sqrt(n), "%s: mean %g, want %g", text,
                  s.mean, mean);
    ck_assert_msg(fabs(s.std / std - 1) <= 0.02, "%s: std %g, want %g", text, s.std, std);
    double spread = fmax(s.max - mean, mean - s.min);
    if (bound > 0)
        ck_assert_msg(spread <= bound * (1 + 1e-6) && spread > 0.95 * bound,
                      "%s: spread %g, bound %g", text, spread, bound);
    else
        ck_assert_msg(spread > 3 * std, "%s: untruncated yet spread %g", text, spread);
}

/* Uniform fill on [lo, hi): inside, close to both ends, std (hi - lo)/sqrt 12
 * and mean (lo + hi)/2 within sampling error. */
static void check_uniform(const char *text, const size_t *shape, int rank, double lo,
                          double hi)
{
    struct initializer in = parse_ok(text);
    struct stats s = fill_stats(&in, shape, rank, NULL);
    double w = hi - lo, n = 1;
    for (int i = 0; i < rank; i++)
        n *= (double)shape[i];
    ck_assert_msg(s.min >= lo - 1e-7 && s.max <= hi + 1e-7, "%s: [%g, %g] outside [%g, %g]",
                  text, s.min, s.max, lo, hi);
    ck_assert_msg(s.min < lo + 0.01 * w && s.max > hi - 0.01 * w, "%s: [%g, %g] vs [%g, %g]",
                  text, s.min, s.max, lo, hi);
    /* relative standard error of a uniform sample's std is sqrt(0.2 / n) */
    ck_assert_msg(fabs(s.std / (w / sqrt(12)) - 1) <= 0.005 + 5 * sqrt(0.2 / n), "%s: std %g",
                  text, s.std);
    ck_assert_msg(fabs(s.mean - (lo + hi) / 2) <= 5 * w / sqrt(12 * n), "%s: mean %g", text,
                  s.mean);
}

START_TEST(test_fill_constants)
{
    check_constant("zeros", 0);
    check_constant("ones", 1);
    check_constant("constant", 0);
    check_constant("{constant: {value: 0.5}}", 0.5f);
    check_constant("{Constant: -3}", -3);
}
END_TEST

START_TEST(test_fill_random)
{
    check_normal("random_normal", shape2, 2, 0, 0.05, 0);
    check_normal("{random_normal: {mean: 1, stddev: 2}}", shape2, 2, 1, 2, 0);
    check_uniform("random_uniform", shape2, 2, -0.05, 0.05);
    check_uniform("{RandomUniform: {minval: 2, maxval: 5}}", shape2, 2, 2, 5);
    /* truncated: redrawn beyond 2 stddev, so std shrinks by TRUNC */
    check_normal("truncated_normal", shape2, 2, 0, 0.05 * TRUNC, 0.1);
    check_normal("{truncated_normal: {mean: -1, stddev: 0.5}}", shape2, 2, -1, 0.5 * TRUNC, 1.0);
}
END_TEST

/* Variance scaling on (200, 300): fan_in 200, fan_out 300, fan_avg 250.
 * Truncated normals end up with std sqrt(scale / n) exactly (Keras divides
 * by TRUNC first) and a bound of 2 sqrt(scale / n) / TRUNC. */
START_TEST(test_fill_variance_scaling)
{
    double s;
    s = sqrt(1.0 / 200);
    check_normal("variance_scaling", shape2, 2, 0, s, 2 * s / TRUNC);
    check_normal("lecun_normal", shape2, 2, 0, s, 2 * s / TRUNC);
    s = sqrt(1.0 / 250);
    check_normal("glorot_normal", shape2, 2, 0, s, 2 * s / TRUNC);
    s = sqrt(2.0 / 200);
    check_normal("he_normal", shape2, 2, 0, s, 2 * s / TRUNC);
    s = sqrt(3.0 / 300);
    check_normal("{variance_scaling: {scale: 3, mode: fan_out, distribution: untruncated_normal}}",
                 shape2, 2, 0, s, 0);
    check_uniform("glorot_uniform", shape2, 2, -sqrt(6.0 / 500), sqrt(6.0 / 500));
    check_uniform("he_uniform", shape2, 2, -sqrt(6.0 / 200), sqrt(6.0 / 200));
    check_uniform("lecun_uniform", shape2, 2, -sqrt(3.0 / 200), sqrt(3.0 / 200));
    check_uniform("{VarianceScaling: {scale: 2, mode: fan_avg, distribution: uniform}}", shape2,
                  2, -sqrt(6.0 / 250), sqrt(6.0 / 250));
}
END_TEST

/* Fans, seen through the uniform limit sqrt(3 scale / fan). */
START_TEST(test_fans)
{
    /* rank 1: fan_in = fan_out = shape[0] */
    const size_t s1[1] = {1000};
    check_uniform("lecun_uniform", s1, 1, -sqrt(3.0 / 1000), sqrt(3.0 / 1000));
    check_uniform("{variance_scaling: {mode: fan_out, distribution: uniform}}", s1, 1,
                  -sqrt(3.0 / 1000), sqrt(3.0 / 1000));
    /* rank 4 conv kernel (3, 3, 16, 32): receptive field 9, fan_in 144, fan_out 288 */
    const size_t s4[4] = {3, 3, 16, 32};
    check_uniform("he_uniform", s4, 4, -sqrt(6.0 / 144), sqrt(6.0 / 144));
    check_uniform("{variance_scaling: {mode: fan_out, distribution: uniform}}", s4, 4,
                  -sqrt(3.0 / 288), sqrt(3.0 / 288));
    check_uniform("glorot_uniform", s4, 4, -sqrt(6.0 / 432), sqrt(6.0 / 432));
    /* rank 2 with the fans swapped */
    const size_t s2[2] = {300, 200};
    check_uniform("{variance_scaling: {mode: fan_out, distribution: uniform}}", s2, 2,
                  -sqrt(3.0 / 200), sqrt(3.0 / 200));
    /* rank 0: fans (1, 1), one value within sqrt(6) */
    struct initializer in = parse_ok("he_uniform");
    struct stats st = fill_stats(&in, NULL, 0, NULL);
    ck_assert(st.absmax <= sqrt(6.0) && st.absmax > 0);
    /* an empty shape fills nothing (its zero fan is clamped by max(1, fan)) */
    const size_t s0[2] = {5, 0};
    float w[1] = {42};
    struct rng r;
    rng_seed(&r, 1);
    init_fill(&in, w, s0, 2, &r);
    ck_assert_float_eq(w[0], 42);
}
END_TEST

START_TEST(test_seed)
{
    enum { N = 64 };
    const size_t shape[2] = {8, 8};
    const char *texts[] = {"{random_normal: {seed: 42}}", "{random_uniform: {seed: 42}}",
                           "{truncated_normal: {seed: 42}}", "{glorot_uniform: {seed: 42}}",
                           "{he_normal: {seed: 42}}",
                           "{class_name: VarianceScaling, config: {seed: 42}}"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        struct initializer in = parse_ok(texts[t]);
        ck_assert(in.has_seed);
        ck_assert_int_eq(in.seed, 42);
        float a[N], b[N];
        struct rng ra, rb, fresh;
        rng_seed(&ra, 1);
        rng_seed(&rb, 2);
        rng_next(&rb);
        init_fill(&in, a, shape, 2, &ra);
        init_fill(&in, b, shape, 2, &rb);
        ck_assert_msg(memcmp(a, b, sizeof a) == 0, "%s: fills differ", texts[t]);
        rng_seed(&fresh, 1);
        ck_assert_msg(memcmp(&ra, &fresh, sizeof ra) == 0, "%s: passed rng was used", texts[t]);
        /* a different seed gives different values */
        in.seed = 43;
        init_fill(&in, b, shape, 2, &rb);
        ck_assert(memcmp(a, b, sizeof a) != 0);
    }
    /* unseeded: the passed rng decides, and advances */
    struct initializer in = parse_ok("{glorot_uniform: {seed: null}}");
    ck_assert(!in.has_seed);
    float a[N], b[N];
    struct rng r1, r2;
    rng_seed(&r1, 1);
    rng_seed(&r2, 1);
    init_fill(&in, a, shape, 2, &r1);
    init_fill(&in, b, shape, 2, &r2);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    init_fill(&in, b, shape, 2, &r2);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

/* ---- orthogonal and identity ---- */

/* Fills `text` into shape with the rng seeded by seed; returns the values. */
static float *fill_with(const char *text, const size_t *shape, int rank, uint64_t seed)
{
    struct initializer in = parse_ok(text);
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    float *w = malloc(n * sizeof *w);
    ck_assert_ptr_nonnull(w);
    struct rng r;
    rng_seed(&r, seed);
    init_fill(&in, w, shape, rank, &r);
    return w;
}

/* The weight as (rows, cols), rows = prod(shape[:-1]): Keras's orthogonal
 * matrix has orthonormal columns when rows >= cols (W^T W = gain^2 I) and
 * orthonormal rows otherwise (W W^T = gain^2 I). */
START_TEST(test_orthogonal)
{
    static const struct {
        const char *text;
        int rank;
        size_t shape[4];
        double gain;
    } cases[] = {
        {"orthogonal", 2, {20, 8}, 1},
        {"Orthogonal", 2, {6, 15}, 1},
        {"orthogonal", 2, {12, 12}, 1},
        {"{orthogonal: 2.5}", 2, {30, 4}, 2.5},
        {"{orthogonal: {gain: 0.5}}", 2, {3, 40}, 0.5},
        {"orthogonal", 4, {3, 3, 4, 16}, 1}, /* (36, 16): tall */
        {"orthogonal", 4, {2, 2, 2, 16}, 1}, /* (8, 16): wide */
        {"{orthogonal: [1.5, 4]}", 3, {5, 1, 1}, 1.5}, /* a single column */
    };
    const size_t *shape = cases[_i].shape;
    int rank = cases[_i].rank;
    size_t rows = 1, cols = shape[rank - 1];
    for (int i = 0; i < rank - 1; i++)
        rows *= shape[i];
    float *w = fill_with(cases[_i].text, shape, rank, 77);
    bool tall = rows >= cols;
    size_t k = tall ? cols : rows, len = tall ? rows : cols;
    double g2 = cases[_i].gain * cases[_i].gain, worst = 0;
    for (size_t a = 0; a < k; a++) {
        for (size_t b = 0; b < k; b++) {
            double dot = 0;
            for (size_t t = 0; t < len; t++)
                dot += tall ? (double)w[t * cols + a] * w[t * cols + b]
                            : (double)w[a * cols + t] * w[b * cols + t];
            worst = fmax(worst, fabs(dot - (a == b ? g2 : 0)));
        }
    }
    ck_assert_msg(worst <= 1e-5 * g2, "%s on (%zu, %zu): off by %g", cases[_i].text, rows, cols,
                  worst);
    free(w);
}
END_TEST

/* Against an independent computation: the same normal draws (row-major
 * (max, min)), orthonormalized by modified Gram-Schmidt, which gives the
 * QR factorization with a positive diagonal: what Keras's sign correction
 * q *= sign(diag(r)) makes of any QR. Transposed when rows < cols. */
static void orthogonal_reference(size_t rows, size_t cols, uint64_t seed)
{
    size_t m = rows > cols ? rows : cols, k = rows > cols ? cols : rows;
    double *a = malloc(m * k * sizeof *a);
    ck_assert_ptr_nonnull(a);
    struct rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m * k; i++)
        a[i] = rng_normal(&r);
    for (size_t j = 0; j < k; j++) {
        for (size_t p = 0; p < j; p++) {
            double dot = 0;
            for (size_t i = 0; i < m; i++)
                dot += a[i * k + p] * a[i * k + j];
            for (size_t i = 0; i < m; i++)
                a[i * k + j] -= dot * a[i * k + p];
        }
        double norm = 0;
        for (size_t i = 0; i < m; i++)
            norm += a[i * k + j] * a[i * k + j];
        norm = sqrt(norm);
        for (size_t i = 0; i < m; i++)
            a[i * k + j] /= norm;
    }
    const size_t shape[2] = {rows, cols};
    float *w = fill_with("orthogonal", shape, 2, seed);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < k; j++) {
            float got = rows >= cols ? w[i * cols + j] : w[j * cols + i];
            ck_assert_msg(fabs(got - a[i * k + j]) <= 1e-5, "(%zu, %zu) [%zu, %zu]: %g, want %g",
                          rows, cols, i, j, got, a[i * k + j]);
        }
    free(a), free(w);
}

START_TEST(test_orthogonal_reference)
{
    orthogonal_reference(9, 4, 1);
    orthogonal_reference(4, 9, 2);
    orthogonal_reference(7, 7, 3);
    orthogonal_reference(50, 1, 4);
    orthogonal_reference(1, 50, 5);
}
END_TEST

/* A seed gives the same matrix whatever rng is passed (and leaves it
 * alone); without one the passed rng decides. */
START_TEST(test_orthogonal_seed)
{
    const size_t shape[2] = {10, 6};
    float *a = fill_with("{orthogonal: {seed: 3}}", shape, 2, 1);
    float *b = fill_with("{orthogonal: {seed: 3}}", shape, 2, 2);
    float *c = fill_with("{orthogonal: {seed: 4}}", shape, 2, 1);
    float *d = fill_with("orthogonal", shape, 2, 9);
    float *e = fill_with("orthogonal", shape, 2, 9);
    float *f = fill_with("orthogonal", shape, 2, 10);
    size_t bytes = 60 * sizeof(float);
    ck_assert(memcmp(a, b, bytes) == 0);
    ck_assert(memcmp(a, c, bytes) != 0);
    ck_assert(memcmp(d, e, bytes) == 0);
    ck_assert(memcmp(d, f, bytes) != 0);
    struct initializer in = parse_ok("{orthogonal: {seed: 3}}");
    struct rng r, fresh;
    rng_seed(&r, 1);
    rng_seed(&fresh, 1);
    init_fill(&in, d, shape, 2, &r);
    ck_assert(memcmp(&r, &fresh, sizeof r) == 0);
    free(a), free(b), free(c), free(d), free(e), free(f);
}
END_TEST

/* gain * tf.eye(rows, cols), square or not. */
START_TEST(test_identity)
{
    static const struct {
        const char *text;
        size_t rows, cols;
        float gain;
    } cases[] = {
        {"identity", 4, 4, 1}, {"Identity", 3, 5, 1}, {"{identity: 0.5}", 6, 2, 0.5f},
        {"{class_name: Identity, config: {gain: -2.0}}", 3, 3, -2},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const size_t shape[2] = {cases[t].rows, cases[t].cols};
        float *w = fill_with(cases[t].text, shape, 2, 1);
        for (size_t i = 0; i < shape[0]; i++)
            for (size_t j = 0; j < shape[1]; j++)
                ck_assert_msg(w[i * shape[1] + j] == (i == j ? cases[t].gain : 0.0f), "%s [%zu, %zu]",
                              cases[t].text, i, j);
        free(w);
    }
}
END_TEST

/* init_check's message for `text` on `shape` ("" when it passes); the
 * document stays loaded while the error points into it. */
static const char *check_text(const char *text, const size_t *shape, int rank, const char *layer,
                              const char *weight)
{
    static struct diag d;
    struct spec_doc doc;
    struct initializer in;
    ck_assert_int_eq(spec_load_string(&doc, "t.yaml", text, strlen(text), &d), 0);
    ck_assert_int_eq(init_parse(doc.root, &in, &d), 0);
    d.msg[0] = 0;
    int rc = init_check(&in, shape, rank, layer, weight, NULL, &d);
    ck_assert_int_eq(rc, d.msg[0] ? -1 : 0);
    spec_free(&doc);
    return d.msg;
}

/* Orthogonal needs rank >= 2 and Identity rank 2, located at the
 * initializer (or, for a layer's default one, at the layer). */
START_TEST(test_check_shape)
{
    const size_t s1[1] = {4}, s2[2] = {3, 5}, s3[3] = {2, 3, 4}, s4[4] = {3, 3, 2, 8};
    ck_assert_str_eq(check_text("orthogonal", s2, 2, "dense", "kernel"), "");
    ck_assert_str_eq(check_text("orthogonal", s4, 4, "conv", "kernel"), "");
    ck_assert_str_eq(check_text("orthogonal", s1, 1, "dense", "bias"),
                     "t.yaml:1:1: layer 'dense': the Orthogonal initializer needs a "
                     "weight of 2 or more dimensions, but 'bias' has shape (4,)");
    ck_assert_str_eq(check_text("{identity: {gain: 2}}", s2, 2, "dense", "kernel"), "");
    ck_assert_str_eq(check_text("\n{identity: {gain: 2}}", s3, 3, "p_re_lu", "alpha"),
                     "t.yaml:2:1: layer 'p_re_lu': the Identity initializer needs a 2-D "
                     "weight, but 'alpha' has shape (2, 3, 4)");
    ck_assert_ptr_nonnull(strstr(check_text("Identity", s1, 1, "dense", "bias"), "(4,)"));
    ck_assert_str_eq(check_text("glorot_uniform", s1, 1, "dense", "bias"), "");
    ck_assert_str_eq(check_text("he_normal", s3, 3, "dense", "bias"), "");
    /* a default initializer (no position) is located at the fallback */
    struct initializer in;
    struct diag d;
    init_default(INIT_ORTHOGONAL, &in);
    ck_assert_int_eq(init_check(&in, s1, 1, "lstm", "bias", NULL, &d), -1);
    ck_assert_ptr_nonnull(strstr(d.msg, "layer 'lstm': the Orthogonal initializer"));
}
END_TEST

/* ---- parsing ---- */

START_TEST(test_parse_names)
{
    static const struct {
        const char *name;
        enum init_kind kind;
    } cases[] = {
        {"zeros", INIT_ZEROS},
        {"Zeros", INIT_ZEROS},
        {"zero", INIT_ZEROS},
        {"ones", INIT_ONES},
        {"Ones", INIT_ONES},
        {"one", INIT_ONES},
        {"constant", INIT_CONSTANT},
        {"Constant", INIT_CONSTANT},
        {"random_normal", INIT_RANDOM_NORMAL},
        {"RandomNormal", INIT_RANDOM_NORMAL},
        {"normal", INIT_RANDOM_NORMAL},
        {"random_uniform", INIT_RANDOM_UNIFORM},
        {"RandomUniform", INIT_RANDOM_UNIFORM},
        {"uniform", INIT_RANDOM_UNIFORM},
        {"truncated_normal", INIT_TRUNCATED_NORMAL},
        {"TruncatedNormal", INIT_TRUNCATED_NORMAL},
        {"variance_scaling", INIT_VARIANCE_SCALING},
        {"VarianceScaling", INIT_VARIANCE_SCALING},
        {"glorot_uniform", INIT_GLOROT_UNIFORM},
        {"GlorotUniform", INIT_GLOROT_UNIFORM},
        {"glorot_normal", INIT_GLOROT_NORMAL},
        {"GlorotNormal", INIT_GLOROT_NORMAL},
        {"he_uniform", INIT_HE_UNIFORM},
        {"HeUniform", INIT_HE_UNIFORM},
        {"he_normal", INIT_HE_NORMAL},
        {"HeNormal", INIT_HE_NORMAL},
        {"lecun_uniform", INIT_LECUN_UNIFORM},
        {"LecunUniform", INIT_LECUN_UNIFORM},
        {"LeCunUniform", INIT_LECUN_UNIFORM},
        {"lecun_normal", INIT_LECUN_NORMAL},
        {"LecunNormal", INIT_LECUN_NORMAL},
        {"LeCunNormal", INIT_LECUN_NORMAL},
        {"orthogonal", INIT_ORTHOGONAL},
        {"Orthogonal", INIT_ORTHOGONAL},
        {"identity", INIT_IDENTITY},
        {"Identity", INIT_IDENTITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct initializer in = parse_ok(cases[i].name);
        struct initializer def;
        init_default(cases[i].kind, &def);
        ck_assert_msg(in.kind == cases[i].kind, "%s", cases[i].name);
        assert_same(&in, &def);
    }
}
END_TEST

START_TEST(test_defaults)
{
    struct initializer in;
    init_default(INIT_RANDOM_NORMAL, &in);
    ck_assert(in.mean == 0 && in.stddev == 0.05);
    init_default(INIT_RANDOM_UNIFORM, &in);
    ck_assert(in.minval == -0.05 && in.maxval == 0.05);
    init_default(INIT_CONSTANT, &in);
    ck_assert(in.value == 0);
    init_default(INIT_ORTHOGONAL, &in);
    ck_assert(in.gain == 1 && !in.has_seed);
    init_default(INIT_IDENTITY, &in);
    ck_assert(in.gain == 1);
    static const struct {
        enum init_kind kind;
        double scale;
        enum init_mode mode;
        enum init_dist dist;
    } vs[] = {
        {INIT_VARIANCE_SCALING, 1, INIT_FAN_IN, INIT_DIST_TRUNCATED_NORMAL},
        {INIT_GLOROT_UNIFORM, 1, INIT_FAN_AVG, INIT_DIST_UNIFORM},
        {INIT_GLOROT_NORMAL, 1, INIT_FAN_AVG, INIT_DIST_TRUNCATED_NORMAL},
        {INIT_HE_UNIFORM, 2, INIT_FAN_IN, INIT_DIST_UNIFORM},
        {INIT_HE_NORMAL, 2, INIT_FAN_IN, INIT_DIST_TRUNCATED_NORMAL},
        {INIT_LECUN_UNIFORM, 1, INIT_FAN_IN, INIT_DIST_UNIFORM},
        {INIT_LECUN_NORMAL, 1, INIT_FAN_IN, INIT_DIST_TRUNCATED_NORMAL},
    };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        init_default(vs[i].kind, &in);
        ck_assert(in.scale == vs[i].scale && in.mode == vs[i].mode && in.dist == vs[i].dist);
        ck_assert(!in.has_seed);
    }
}
END_TEST

START_TEST(test_parse_forms)
{
    struct initializer in;
    in = parse_ok("{random_normal: {stddev: 0.1}}");
    ck_assert(in.kind == INIT_RANDOM_NORMAL && in.mean == 0 && in.stddev == 0.1 && !in.has_seed);
    in = parse_ok("RandomNormal:\n  mean: 1\n  stddev: 2\n  seed: 7\n");
    ck_assert(in.mean == 1 && in.stddev == 2 && in.has_seed && in.seed == 7);
    in = parse_ok("{glorot_uniform: null}");
    ck_assert(in.kind == INIT_GLOROT_UNIFORM && !in.has_seed);
    in = parse_ok("{GlorotUniform: {}}");
    ck_assert(in.kind == INIT_GLOROT_UNIFORM);
    in = parse_ok("{he_normal: {seed: -5}}");
    ck_assert(in.has_seed && in.seed == -5);
    /* positional: a scalar is the first argument, a list the first few */
    in = parse_ok("{constant: 0.5}");
    ck_assert(in.kind == INIT_CONSTANT && in.value == 0.5);
    in = parse_ok("{random_uniform: [-1, 1]}");
    ck_assert(in.minval == -1 && in.maxval == 1 && !in.has_seed);
    in = parse_ok("{variance_scaling: [2.0, fan_out, uniform, 3]}");
    ck_assert(in.scale == 2 && in.mode == INIT_FAN_OUT && in.dist == INIT_DIST_UNIFORM);
    ck_assert(in.has_seed && in.seed == 3);
    in = parse_ok("{glorot_normal: 9}");
    ck_assert(in.has_seed && in.seed == 9);
    /* Keras's own serialization, YAML and JSON, with and without the
     * Keras >= 2.13 module/registered_name keys and a legacy dtype */
    in = parse_ok("{class_name: VarianceScaling, config: {scale: 2.0, mode: fan_out, "
                  "distribution: uniform, seed: null}}");
    ck_assert(in.kind == INIT_VARIANCE_SCALING && in.scale == 2 && in.mode == INIT_FAN_OUT &&
              in.dist == INIT_DIST_UNIFORM && !in.has_seed);
    in = parse_ok("{\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": null}}");
    ck_assert(in.kind == INIT_GLOROT_UNIFORM && !in.has_seed);
    in = parse_ok("{\"module\": \"keras.initializers\", \"class_name\": \"RandomUniform\", "
                  "\"config\": {\"minval\": -0.1, \"maxval\": 0.1, \"seed\": 3}, "
                  "\"registered_name\": null}");
    ck_assert(in.kind == INIT_RANDOM_UNIFORM && in.minval == -0.1 && in.maxval == 0.1);
    ck_assert(in.has_seed && in.seed == 3);
    in = parse_ok("{class_name: Zeros, config: {}}");
    ck_assert(in.kind == INIT_ZEROS);
    in = parse_ok("{class_name: Constant, config: {value: 2, dtype: float32}}");
    ck_assert(in.kind == INIT_CONSTANT && in.value == 2);
    in = parse_ok("{class_name: LeCunNormal, config: {seed: null}}");
    ck_assert(in.kind == INIT_LECUN_NORMAL);
    /* distribution: case-insensitive, "normal" means truncated_normal */
    in = parse_ok("{variance_scaling: {distribution: normal}}");
    ck_assert(in.dist == INIT_DIST_TRUNCATED_NORMAL);
    in = parse_ok("{variance_scaling: {distribution: Untruncated_Normal}}");
    ck_assert(in.dist == INIT_DIST_UNTRUNCATED_NORMAL);
    in = parse_ok("{variance_scaling: {mode: fan_avg, distribution: UNIFORM}}");
    ck_assert(in.mode == INIT_FAN_AVG && in.dist == INIT_DIST_UNIFORM);
}
END_TEST

START_TEST(test_parse_errors)
{
    /* unknown names: located, with a suggestion */
    ck_assert_str_eq(parse_err("glorot_unifrom"),
                     "t.yaml:1:1: unknown initializer 'glorot_unifrom' "
                     "(did you mean 'glorot_uniform'?)");
    ck_assert_str_eq(parse_err("\nGlorotUnifrom:\n  seed: 1\n"),
                     "t.yaml:2:1: unknown initializer 'GlorotUnifrom' "
                     "(did you mean 'GlorotUniform'?)");
    ck_assert_str_eq(parse_err("{class_name: HeNormall, config: {}}"),
                     "t.yaml:1:14: unknown initializer 'HeNormall' (did you mean 'HeNormal'?)");
    ck_assert_str_eq(parse_err("xavier"), "t.yaml:1:1: unknown initializer 'xavier'");
    ck_assert_str_eq(parse_err("glorotuniform"),
                     "t.yaml:1:1: unknown initializer 'glorotuniform' "
                     "(did you mean 'GlorotUniform'?)");
    ck_assert_str_eq(parse_err("orthogonl"),
                     "t.yaml:1:1: unknown initializer 'orthogonl' (did you mean 'orthogonal'?)");
    /* Identity has no seed (Keras: Identity(gain=1.0)) */
    ck_assert_str_eq(parse_err("{identity: {gain: 2, seed: 1}}"),
                     "t.yaml:1:22: unknown key 'seed' in initializer 'identity'");
    ck_assert_ptr_nonnull(strstr(parse_err("{orthogonal: [1, 2, 3]}"), "at most 2 arguments"));
    ck_assert_ptr_nonnull(strstr(parse_err("{orthogonal: {gain: x}}"), "expected a number"));

    /* unknown argument keys (spec_check_keys) */
    ck_assert_str_eq(parse_err("{random_normal: {stdev: 0.1}}"),
                     "t.yaml:1:18: unknown key 'stdev' in initializer 'random_normal' "
                     "(did you mean 'stddev'?)");
    ck_assert_ptr_nonnull(strstr(parse_err("{glorot_uniform: {scale: 2}}"),
                                 "unknown key 'scale' in initializer 'glorot_uniform'"));
    ck_assert_ptr_nonnull(strstr(parse_err("{zeros: {value: 1}}"), "unknown key 'value'"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("{random_normal: {dtype: float32}}"), "unknown key 'dtype'"));
    ck_assert_ptr_nonnull(strstr(parse_err("{class_name: Zeros, config: {}, extra: 1}"),
                                 "unknown key 'extra' in initializer"));

    /* wrong types and values, located at the value */
    ck_assert_str_eq(parse_err("{random_normal: {stddev: abc}}"),
                     "t.yaml:1:26: expected a number, found 'abc'");
    ck_assert_str_eq(parse_err("{random_normal: {stddev: \"0.1\"}}"),
                     "t.yaml:1:26: expected a number, found '0.1'");
    ck_assert_ptr_nonnull(strstr(parse_err("{random_normal: {seed: 1.5}}"), "an integer"));
    ck_assert_ptr_nonnull(strstr(parse_err("{random_normal: {seed: [1]}}"), "an integer"));
    ck_assert_str_eq(parse_err("{variance_scaling: {mode: fan_inn}}"),
                     "t.yaml:1:27: mode must be 'fan_in', 'fan_out' or 'fan_avg', not 'fan_inn'");
    ck_assert_ptr_nonnull(strstr(parse_err("{variance_scaling: {mode: FAN_IN}}"), "mode must"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("{variance_scaling: {distribution: gaussian}}"), "distribution must"));
    ck_assert_ptr_nonnull(strstr(parse_err("{variance_scaling: {scale: 0}}"), "positive"));
    ck_assert_ptr_nonnull(strstr(parse_err("{variance_scaling: {scale: -1}}"), "positive"));
    ck_assert_ptr_nonnull(strstr(parse_err("{constant: {value: .nan}}"), "t.yaml:1:20:"));

    /* wrong shapes of the whole thing */
    ck_assert_ptr_nonnull(strstr(parse_err("[glorot_uniform]"), "expected an initializer"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("{zeros: null, ones: null}"), "expected an initializer"));
    ck_assert_ptr_nonnull(strstr(parse_err("null"), "found null"));
    ck_assert_ptr_nonnull(strstr(parse_err("{class_name: Zeros}"), "'config'"));
    ck_assert_ptr_nonnull(strstr(parse_err("{class_name: Zeros, config: 1}"), "must be a map"));
    ck_assert_ptr_nonnull(strstr(parse_err("{class_name: [Zeros], config: {}}"),
                                 "expected an initializer name, found a list"));
    ck_assert_ptr_nonnull(strstr(parse_err("{zeros: 1}"), "takes no arguments"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("{random_uniform: [1, 2, 3, 4]}"), "at most 3 arguments, found 4"));
    ck_assert_ptr_nonnull(strstr(parse_err("{constant: {value: [1, 2]}}"), "expected a number"));
}
END_TEST

/* ---- serialization ---- */

static char *to_json(const struct initializer *in)
{
    struct capture c;
    init_to_json(in, capture_json(&c));
    return capture_close(&c);
}

static void check_json(const char *text, const char *want)
{
    struct initializer in = parse_ok(text);
    char *got = to_json(&in);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_json)
{
    check_json("glorot_uniform",
               "{\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": null}}");
    check_json("{he_normal: {seed: 5}}",
               "{\"class_name\": \"HeNormal\", \"config\": {\"seed\": 5}}");
    check_json("random_normal", "{\"class_name\": \"RandomNormal\", \"config\": "
                                "{\"mean\": 0.0, \"stddev\": 0.05, \"seed\": null}}");
    check_json("{random_uniform: [-1, 1]}", "{\"class_name\": \"RandomUniform\", \"config\": "
                                            "{\"minval\": -1.0, \"maxval\": 1.0, \"seed\": null}}");
    check_json("truncated_normal", "{\"class_name\": \"TruncatedNormal\", \"config\": "
                                   "{\"mean\": 0.0, \"stddev\": 0.05, \"seed\": null}}");
    check_json("zeros", "{\"class_name\": \"Zeros\", \"config\": {}}");
    check_json("one", "{\"class_name\": \"Ones\", \"config\": {}}");
    check_json("{constant: 0.5}", "{\"class_name\": \"Constant\", \"config\": {\"value\": 0.5}}");
    check_json("{variance_scaling: {scale: 2, mode: fan_out, distribution: uniform, seed: 3}}",
               "{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 2.0, \"mode\": "
               "\"fan_out\", \"distribution\": \"uniform\", \"seed\": 3}}");
    check_json("{variance_scaling: {distribution: normal}}",
               "{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 1.0, \"mode\": "
               "\"fan_in\", \"distribution\": \"truncated_normal\", \"seed\": null}}");
    /* LeCun: written as the equivalent VarianceScaling (see init.c) */
    check_json("lecun_normal",
               "{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 1.0, \"mode\": "
               "\"fan_in\", \"distribution\": \"truncated_normal\", \"seed\": null}}");
    check_json("LecunUniform",
               "{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 1.0, \"mode\": "
               "\"fan_in\", \"distribution\": \"uniform\", \"seed\": null}}");
    /* Keras 2 get_config: Orthogonal {gain, seed}, Identity {gain} */
    check_json("orthogonal",
               "{\"class_name\": \"Orthogonal\", \"config\": {\"gain\": 1.0, \"seed\": null}}");
    check_json("{orthogonal: [0.5, 7]}",
               "{\"class_name\": \"Orthogonal\", \"config\": {\"gain\": 0.5, \"seed\": 7}}");
    check_json("Identity", "{\"class_name\": \"Identity\", \"config\": {\"gain\": 1.0}}");
    check_json("{identity: 2}", "{\"class_name\": \"Identity\", \"config\": {\"gain\": 2.0}}");
}
END_TEST

/* Writing and reading back gives an initializer that fills the same. */
START_TEST(test_json_round_trip)
{
    const char *texts[] = {"zeros", "ones", "{constant: -2.25}", "{random_normal: [1, 3, 11]}",
                           "{random_uniform: [0, 0.125]}",
                           "{truncated_normal: {stddev: 0.3}}",
                           "{variance_scaling: [0.5, fan_avg, untruncated_normal]}",
                           "glorot_uniform", "glorot_normal", "he_uniform", "{he_normal: 77}",
                           "lecun_uniform", "lecun_normal", "{orthogonal: {gain: 3, seed: 2}}",
                           "orthogonal", "{identity: 0.25}"};
    const size_t shape[2] = {10, 7};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        struct initializer a = parse_ok(texts[t]);
        char *json = to_json(&a);
        struct initializer b = parse_ok(json);
        float wa[70], wb[70];
        struct rng ra, rb;
        rng_seed(&ra, 9);
        rng_seed(&rb, 9);
        init_fill(&a, wa, shape, 2, &ra);
        init_fill(&b, wb, shape, 2, &rb);
        ck_assert_msg(memcmp(wa, wb, sizeof wa) == 0, "%s -> %s fills differently", texts[t],
                      json);
        if (a.kind != INIT_LECUN_UNIFORM && a.kind != INIT_LECUN_NORMAL)
            assert_same(&a, &b);
        free(json);
    }
}
END_TEST

static Suite *init_suite(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fill_constants);
    tcase_add_test(tc, test_fill_random);
    tcase_add_test(tc, test_fill_variance_scaling);
    tcase_add_test(tc, test_fans);
    tcase_add_test(tc, test_seed);
    tcase_add_loop_test(tc, test_orthogonal, 0, 8);
    tcase_add_test(tc, test_orthogonal_reference);
    tcase_add_test(tc, test_orthogonal_seed);
    tcase_add_test(tc, test_identity);
    tcase_add_test(tc, test_check_shape);
    tcase_add_test(tc, test_parse_names);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_parse_forms);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_json_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(init_suite());
}
