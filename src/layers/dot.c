/* Dot(axes, normalize): the batch-wise dot product of two inputs along one
 * axis of each (keras/layers/merging/dot.py, backend batch_dot). With
 * per-sample x viewed as (P, n, Q) around its axis and y as (R, n, S):
 *   out[p, q, r, s] = sum_k x[p, k, q] y[r, k, s]
 * so the output keeps x's other axes, then y's (batch_dot's order); an
 * output with no axis left is (1,). normalize divides each vector along
 * the axis by its L2 norm first (tf.linalg.l2_normalize: x / sqrt(max(sum
 * x^2, 1e-12))); the cache then keeps the normalized inputs, their norms
 * and room for their gradients. Keras's Dot passes no mask on. */
#include <math.h>
#include <string.h>

#include "../parallel.h"
#include "layers.h"

#define L2_EPSILON 1e-12

struct dot_conf {
    struct int_tuple axes;
    bool normalize;
    /* Set by build: */
    size_t P, n, Q, R, S;
};

static const struct arg_def dot_args[] = {
    {"axes", ARG_TUPLE, offsetof(struct dot_conf, axes), ARG_REQUIRED | ARG_SCALAR_IF_ONE, NULL,
     NULL},
    {"normalize", ARG_BOOL, offsetof(struct dot_conf, normalize), 0, NULL, NULL},
};

static int dot_validate(const struct layer *l, const struct spec_node *where, struct diag *d)
{
    const struct dot_conf *c = l->conf;
    if (c->axes.n != 1 && c->axes.n != 2)
        return spec_error(where, d, "Dot axes must be an integer or a list of 2 integers");
    return 0;
}

/* Keras's axis a (batch axis 0) of an input of per-sample rank r as a
 * per-sample axis, or -1 when out of range or the batch axis. */
static int sample_axis(long a, int rank)
{
    if (a < 0)
        a += rank + 1;
    return a >= 1 && a <= rank ? (int)a - 1 : -1;
}

static int dot_build(struct layer *l, const struct shape *in, size_t n_in, struct shape *out,
                     struct diag *d)
{
    struct dot_conf *c = l->conf;
    char s1[96], s2[96];
    if (n_in != 2)
        return spec_error(l->where, d, "Dot '%s' needs exactly 2 inputs, found %zu", l->name,
                          n_in);
    long want[2] = {c->axes.v[0], c->axes.n == 2 ? c->axes.v[1] : c->axes.v[0]};
    int ax[2];
    for (int i = 0; i < 2; i++) {
        ax[i] = sample_axis(want[i], in[i].rank);
        if (ax[i] < 0)
            return spec_error(l->where, d, "Dot '%s': axis %ld %s of input %s", l->name, want[i],
                              want[i] == 0 || want[i] == -(long)in[i].rank - 1
                                  ? "is the batch axis"
                                  : "is out of range",
                              shape_format(&in[i], s1, sizeof s1));
    }
    if (in[0].dim[ax[0]] != in[1].dim[ax[1]])
        return spec_error(l->where, d,
                          "Dot '%s': inputs %s and %s differ on the axes %d and %d (%zu != %zu)",
                          l->name, shape_format(&in[0], s1, sizeof s1),
                          shape_format(&in[1], s2, sizeof s2), ax[0] + 1, ax[1] + 1,
                          in[0].dim[ax[0]], in[1].dim[ax[1]]);
    if (in[0].rank + in[1].rank - 2 > SHAPE_MAX_RANK)
        return spec_error(l->where, d, "Dot '%s': the output would have more than %d axes",
                          l->name, SHAPE_MAX_RANK);
    c->n = in[0].dim[ax[0]];
    c->P = c->Q = c->R = c->S = 1;
    struct shape s = {0, {0}};
    for (int i = 0; i < in[0].rank; i++) {
        if (i < ax[0])
            c->P *= in[0].dim[i];
        else if (i > ax[0])
            c->Q *= in[0].dim[i];
        if (i != ax[0])
            s.dim[s.rank++] = in[0].dim[i];
    }
    for (int i = 0; i < in[1].rank; i++) {
        if (i < ax[1])
            c->R *= in[1].dim[i];
        else if (i > ax[1])
            c->S *= in[1].dim[i];
        if (i != ax[1])
            s.dim[s.rank++] = in[1].dim[i];
    }
    if (s.rank == 0)
        s = (struct shape){1, {1}};
    *out = s;
    return 0;
}

/* normalize: x_hat, y_hat, the norms of x's P*Q and y's R*S vectors, then
 * scratch for d x_hat and d y_hat. */
static size_t dot_cache(const struct layer *l, const struct shape *in, const struct shape *out)
{
    const struct dot_conf *c = l->conf;
    if (!c->normalize)
        return 0;
    size_t nx = c->P * c->n * c->Q, ny = c->R * c->n * c->S;
    return 2 * (nx + ny) + c->P * c->Q + c->R * c->S;
}

struct dot_job {
    const struct layer *l;
    const struct layer_call *c;
};

/* v (P, n, Q) -> v_hat and the norms (P, Q), per vector along n. */
static void l2_normalize(const float *v, size_t P, size_t n, size_t Q, float *hat, float *norm)
{
    for (size_t p = 0; p < P; p++)
        for (size_t q = 0; q < Q; q++) {
            double ss = 0;
            for (size_t k = 0; k < n; k++) {
                double t = v[(p * n + k) * Q + q];
                ss += t * t;
            }
            float r = (float)sqrt(ss > L2_EPSILON ? ss : L2_EPSILON);
            norm[p * Q + q] = ss > L2_EPSILON ? r : -r; /* sign marks the clamped case */
            for (size_t k = 0; k < n; k++)
                hat[(p * n + k) * Q + q] = v[(p * n + k) * Q + q] / r;
        }
}

/* d v from d v_hat: (d v_hat - v_hat (v_hat . d v_hat)) / |v|, or d v_hat
 * / sqrt(eps) where the norm was clamped (v_hat = v / constant there). */
static void l2_backward(const float *hat, const float *norm, const float *dhat, size_t P,
                        size_t n, size_t Q, float *dv)
{
    for (size_t p = 0; p < P; p++)
        for (size_t q = 0; q < Q; q++) {
            float r = norm[p * Q + q];
            double dot = 0;
            if (r > 0)
                for (size_t k = 0; k < n; k++)
                    dot += (double)hat[(p * n + k) * Q + q] * dhat[(p * n + k) * Q + q];
            float a = fabsf(r);
            for (size_t k = 0; k < n; k++) {
                size_t i = (p * n + k) * Q + q;
                dv[i] += (float)((dhat[i] - hat[i] * dot) / a);
            }
        }
}

static void dot_forward_range(void *ctx, size_t s0, size_t s1)
{
    const struct dot_job *j = ctx;
    const struct dot_conf *c = j->l->conf;
    size_t nx = c->P * c->n * c->Q, ny = c->R * c->n * c->S, no = c->P * c->Q * c->R * c->S;
    size_t cf = dot_cache(j->l, NULL, NULL);
    for (size_t b = s0; b < s1; b++) {
        const float *x = j->c->x[0] + b * nx, *y = j->c->x[1] + b * ny;
        if (c->normalize) {
            float *xh = j->c->cache + b * cf, *yh = xh + nx, *nrm = yh + ny;
            l2_normalize(x, c->P, c->n, c->Q, xh, nrm);
            l2_normalize(y, c->R, c->n, c->S, yh, nrm + c->P * c->Q);
            x = xh;
            y = yh;
        }
        float *out = j->c->y + b * no;
        for (size_t p = 0; p < c->P; p++)
            for (size_t q = 0; q < c->Q; q++)
                for (size_t r = 0; r < c->R; r++)
                    for (size_t s = 0; s < c->S; s++) {
                        double sum = 0;
                        for (size_t k = 0; k < c->n; k++)
                            sum += (double)x[(p * c->n + k) * c->Q + q] *
                                   y[(r * c->n + k) * c->S + s];
                        out[((p * c->Q + q) * c->R + r) * c->S + s] = (float)sum;
                    }
    }
}

static void dot_forward(const struct layer *l, const struct layer_call *c)
{
    const struct dot_conf *cf = l->conf;
    struct dot_job j = {l, c};
    parallel_for_samples(c->B, cf->P * cf->Q * cf->R * cf->S * cf->n + cf->n * (cf->P * cf->Q + cf->R * cf->S),
                         dot_forward_range, &j);
}

/* d x[p, k, q] += sum_{r, s} dout[p, q, r, s] y[r, k, s] and
 * d y[r, k, s] += sum_{p, q} dout[p, q, r, s] x[p, k, q]. */
static void dot_backward_range(void *ctx, size_t s0, size_t s1)
{
    const struct dot_job *j = ctx;
    const struct dot_conf *c = j->l->conf;
    size_t nx = c->P * c->n * c->Q, ny = c->R * c->n * c->S, no = c->P * c->Q * c->R * c->S;
    size_t cf = dot_cache(j->l, NULL, NULL);
    for (size_t b = s0; b < s1; b++) {
        const float *x = j->c->x[0] + b * nx, *y = j->c->x[1] + b * ny;
        float *dx = j->c->dx[0] ? j->c->dx[0] + b * nx : NULL;
        float *dy = j->c->dx[1] ? j->c->dx[1] + b * ny : NULL;
        float *nrm = NULL, *dxh = NULL, *dyh = NULL;
        if (c->normalize) {
            float *xh = j->c->cache + b * cf, *yh = xh + nx;
            nrm = yh + ny;
            dxh = nrm + c->P * c->Q + c->R * c->S;
            dyh = dxh + nx;
            memset(dxh, 0, (nx + ny) * sizeof *dxh);
            x = xh;
            y = yh;
        }
        float *gx = c->normalize ? dxh : dx, *gy = c->normalize ? dyh : dy;
        const float *dout = j->c->dy + b * no;
        for (size_t p = 0; p < c->P; p++)
            for (size_t q = 0; q < c->Q; q++)
                for (size_t r = 0; r < c->R; r++)
                    for (size_t s = 0; s < c->S; s++) {
                        float g = dout[((p * c->Q + q) * c->R + r) * c->S + s];
                        for (size_t k = 0; k < c->n; k++) {
                            size_t ix = (p * c->n + k) * c->Q + q, iy = (r * c->n + k) * c->S + s;
                            if (gx)
                                gx[ix] += g * y[iy];
                            if (gy)
                                gy[iy] += g * x[ix];
                        }
                    }
        if (c->normalize) {
            if (dx)
                l2_backward(x, nrm, dxh, c->P, c->n, c->Q, dx);
            if (dy)
                l2_backward(y, nrm + c->P * c->Q, dyh, c->R, c->n, c->S, dy);
        }
    }
}

static void dot_backward(const struct layer *l, const struct layer_call *c)
{
    const struct dot_conf *cf = l->conf;
    struct dot_job j = {l, c};
    parallel_for_samples(c->B, 2 * cf->P * cf->Q * cf->R * cf->S * cf->n, dot_backward_range, &j);
}

const struct layer_ops dot_ops = {
    .class_name = "Dot",
    .base_name = "dot",
    .args = dot_args,
    .n_args = sizeof dot_args / sizeof dot_args[0],
    .conf_size = sizeof(struct dot_conf),
    .validate = dot_validate,
    .build = dot_build,
    .cache_floats = dot_cache,
    .forward = dot_forward,
    .backward = dot_backward,
};
