/* None dimensions (variable lengths) in declared input shapes: built with
 * the free length set (nnc summary's two, train's from its data), marked
 * in free_dims, written back as null in Keras's config, and a located
 * error when no length is set; train's length from a sample's values. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../src/free_length.h"
#include "../src/layer.h"
#include "../src/model.h"
#include "fixtures.h"

static const char *const functional =
    "inputs:\n  - Input: {name: x, shape: [null, 3], dtype: int64}\n"
    "layers:\n  - LSTM: 2\n";
static const char *const sequential =
    "layers:\n  - Embedding: {input_dim: 9, output_dim: 2}\n  - LSTM: 2\n";

START_TEST(test_free_length)
{
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    layer_set_free_length(17);
    ck_assert_int_eq(load_model_text(functional, &m, &mf, &d), 0);
    ck_assert_uint_eq(m.layers[0].free_dims, 1);
    ck_assert_uint_eq(m.inputs[0]->out.dim[0], 17);
    struct capture c;
    struct json *j = capture_json(&c);
    model_functional_to_json(&m, j);
    char *text = capture_close(&c);
    ck_assert_msg(strstr(text, "\"batch_input_shape\": [null, null, 3]") != NULL, "%s", text);
    free(text);
    model_free(&m);
    model_file_close(&mf);

    /* Keras's Embedding without input_length takes input_shape (None,). */
    ck_assert_int_eq(load_model_text(sequential, &m, &mf, &d), 0);
    ck_assert_uint_eq(m.layers[0].free_dims, 1);
    ck_assert_uint_eq(m.layers[0].input_shape.dim[0], 17);
    model_free(&m);
    model_file_close(&mf);
    layer_set_free_length(0);
}
END_TEST

START_TEST(test_no_free_length)
{
    layer_set_free_length(0);
    expect_model_error(functional, "variable-length dimensions (None) need a length here", 2);
    expect_model_error(sequential, "the first layer needs input_length or input_shape", 2);
    expect_model_error("layers:\n  - Dense: {units: 1, batch_input_shape: [null, null]}\n",
                       "variable-length dimensions (None)", 2);
}
END_TEST

/* train's length from the values a sample of its data holds: the one L
 * with fixed * L^k values for k None dimensions. */
START_TEST(test_length_from_values)
{
    struct model m;
    struct model_file mf;
    struct diag d = {{0}};
    size_t L;
    layer_set_free_length(17);
    ck_assert_int_eq(load_model_text("inputs:\n  - Input: {shape: [null, null, 3]}\n"
                                     "layers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n",
                                     &m, &mf, &d),
                     0);
    ck_assert_int_eq(free_length_from_values(&m, 28 * 28 * 3, "x.npy", &L, &d), 0);
    ck_assert_uint_eq(L, 28);
    ck_assert_int_eq(free_length_from_values(&m, 3, "x.npy", &L, &d), 0);
    ck_assert_uint_eq(L, 1);
    /* 28 x 30 images: no one length */
    ck_assert_int_eq(free_length_from_values(&m, 28 * 30 * 3, "x.npy", &L, &d), -1);
    ck_assert_str_eq(d.msg, "x.npy: 2520 values a sample do not fill the input (None, None, "
                            "None, 3) for any one length of its None dimensions");
    ck_assert_int_eq(free_length_from_values(&m, 28 * 28 * 3 + 1, "x.npy", &L, &d), -1);
    ck_assert_int_eq(free_length_from_values(&m, 0, "x.npy", &L, &d), -1);
    model_free(&m);
    model_file_close(&mf);
    ck_assert_int_eq(load_model_text(functional, &m, &mf, &d), 0);
    ck_assert_int_eq(free_length_from_values(&m, 3 * 40, "x.csv", &L, &d), 0);
    ck_assert_uint_eq(L, 40);
    ck_assert_int_eq(free_length_from_values(&m, 3 * 40 + 2, "x.csv", &L, &d), -1);
    model_free(&m);
    model_file_close(&mf);
    layer_set_free_length(0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("free_dims");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_free_length);
    tcase_add_test(tc, test_no_free_length);
    tcase_add_test(tc, test_length_from_values);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
