/* Keras's recurrent cells written naively in double for the tests
 * (test_rnn.c, test_rnn_state.c): SimpleRNN, LSTM (i f c o) and GRU
 * (z r h, reset_after either way) over one sample, with masks carrying the
 * state, go_backwards, and initial and final states in h and c. */
#ifndef NNC_TEST_RNN_NAIVE_H
#define NNC_TEST_RNN_NAIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "../src/activation.h"

enum { MAX_T = 8, MAX_U = 6, MAX_G = 4 * MAX_U };

struct naive {
    int kind; /* 0 SimpleRNN, 1 LSTM, 2 GRU */
    size_t T, D, U;
    bool reset_after, go_backwards, return_sequences, zero_output;
    enum act_kind act; /* linear or tanh (the cell activation) */
    const float *W, *R, *b; /* Keras layouts; b NULL without bias */
};

/* One sample: x (T, D), mask (T) or NULL, states h, c (U each: the initial
 * states in, the final states out), output y. */
void naive_run(const struct naive *n, const float *x, const unsigned char *mask, double *h,
               double *c, float *y);

#endif
