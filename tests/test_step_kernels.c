/* The per-step kernels made faster without changing a bit: rng_fill against
 * rng_next; Dropout's mask against the draw-per-two-values rule written out
 * here (odd counts, more values than one block of draws, every rate edge);
 * ReLU forward and backward in place (the aliasing Dense uses) against
 * plain loops. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/activation.h"
#include "../src/model.h"
#include "../src/rng.h"
#include "gradcheck.h"
#include "netcheck.h"
#include "fixtures.h"

START_TEST(test_rng_fill_is_rng_next)
{
    struct rng a, b;
    rng_seed(&a, 99);
    rng_seed(&b, 99);
    uint64_t got[37];
    for (int round = 0; round < 3; round++) {
        rng_fill(&a, got, 37);
        for (size_t i = 0; i < 37; i++)
            ck_assert_uint_eq(got[i], rng_next(&b));
    }
    rng_fill(&a, got, 0);
    ck_assert_uint_eq(rng_next(&a), rng_next(&b));
}
END_TEST

/* Dropout on B samples of `width` values against the rule: draw k covers
 * values 2k (low 32 bits) and 2k + 1 (high), kept when the half is at
 * least rate * 2^32, and scaled by 1 / (1 - rate). */
START_TEST(test_dropout_mask_rule)
{
    static const struct {
        size_t width, B;
        double rate;
    } cases[] = {{7, 3, 0.5}, {333, 3, 0.25}, {1000, 5, 0.9}, {1, 1, 0.5}, {256, 2, 1e-9},
                 {513, 1, 0.999999}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 "layers:\n"
                 "  - Dropout: {rate: %.17g, input_shape: [%zu]}\n"
                 "compile: {loss: mse}\n",
                 cases[c].rate, cases[c].width);
        struct net n;
        net_load(&n, yaml);
        size_t B = cases[c].B, count = B * cases[c].width;
        model_workspace(&n.m, B);
        gc_fill_uniform(model_input(&n.m), count, -1.5f, 1.5f, 5);
        struct rng r, ref;
        rng_seed(&r, 3 + c);
        rng_seed(&ref, 3 + c);
        model_forward(&n.m, B, true, &r);
        const float *x = model_input(&n.m), *y = n.m.output->y;
        float scale = (float)(1.0 / (1.0 - cases[c].rate));
        uint64_t threshold = (uint64_t)(cases[c].rate * 4294967296.0), bits = 0;
        for (size_t i = 0; i < count; i++) {
            if (i % 2 == 0)
                bits = rng_next(&ref);
            uint64_t u = (bits >> (32 * (i % 2))) & 0xffffffffu;
            float m = u >= threshold ? scale : 0.0f, want = x[i] * m;
            ck_assert_msg(!memcmp(&y[i], &want, sizeof want), "case %zu, value %zu: %.9g, want %.9g",
                          c, i, y[i], want);
            ck_assert(n.m.output->cache[i] == m);
        }
        /* The stream moved on by exactly one draw per two values. */
        ck_assert_uint_eq(rng_next(&r), rng_next(&ref));
        net_free(&n);
    }
}
END_TEST

START_TEST(test_relu_in_place)
{
    enum { N = 1027 };
    float z[N], dy[N], y[N], dz[N], want_y[N], want_dz[N];
    gc_fill_uniform(z, N, -1, 1, 8);
    gc_fill_uniform(dy, N, -1, 1, 9);
    z[3] = 0.0f, z[4] = -0.0f;
    for (size_t i = 0; i < N; i++) {
        want_y[i] = z[i] > 0 ? z[i] : 0;
        want_dz[i] = z[i] > 0 ? dy[i] : 0;
    }
    /* Forward in place (y = z), backward into z's buffer (as Dense does)
     * and into dy's. */
    memcpy(y, z, sizeof z);
    activation_forward(ACT_RELU, y, y, 1, N);
    ck_assert(!memcmp(y, want_y, sizeof y));
    memcpy(dz, z, sizeof z);
    activation_backward(ACT_RELU, dz, y, dy, dz, 1, N);
    ck_assert(!memcmp(dz, want_dz, sizeof dz));
    memcpy(dz, dy, sizeof dy);
    activation_backward(ACT_RELU, z, y, dz, dz, 1, N);
    ck_assert(!memcmp(dz, want_dz, sizeof dz));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("step_kernels");
    TCase *tc = tcase_create("step_kernels");
    tcase_add_test(tc, test_rng_fill_is_rng_next);
    tcase_add_test(tc, test_dropout_mask_rule);
    tcase_add_test(tc, test_relu_in_place);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
