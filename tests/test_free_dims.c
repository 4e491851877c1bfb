/* None dimensions (variable lengths) in declared input shapes: read only
 * when a free length is set (nnc summary), marked in free_dims, written
 * back as null in Keras's config, and a located error otherwise. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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
    expect_model_error(functional,
                       "variable-length dimensions (None) are read only by nnc "
                       "summary",
                       2);
    expect_model_error(sequential, "the first layer needs input_length or input_shape", 2);
    expect_model_error("layers:\n  - Dense: {units: 1, batch_input_shape: [null, null]}\n",
                       "variable-length dimensions (None)", 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("free_dims");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_free_length);
    tcase_add_test(tc, test_no_free_length);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
