/* Keras's cell equations in double (see rnn_naive.h): keras/layers/rnn/
 * simple_rnn.py, lstm.py, gru.py and backend.rnn's masking. */
#include "rnn_naive.h"

#include <math.h>

static double sigm(double v) { return 1 / (1 + exp(-v)); }
static double cell_act(const struct naive *n, double v) { return n->act == ACT_TANH ? tanh(v) : v; }

void naive_run(const struct naive *n, const float *x, const unsigned char *mask, double *h,
               double *c, float *y)
{
    size_t T = n->T, D = n->D, U = n->U, G = (size_t)(n->kind == 0 ? 1 : n->kind == 1 ? 4 : 3) * U;
    double out[MAX_U] = {0};
    for (size_t s = 0; s < T; s++) {
        size_t t = n->go_backwards ? T - 1 - s : s;
        double xw[MAX_G], hr[MAX_G], hn[MAX_U], cn[MAX_U];
        for (size_t g = 0; g < G; g++) {
            xw[g] = n->b ? n->b[g] : 0;
            for (size_t i = 0; i < D; i++)
                xw[g] += x[t * D + i] * n->W[i * G + g];
            hr[g] = n->kind == 2 && n->reset_after && n->b ? n->b[G + g] : 0;
            for (size_t k = 0; k < U; k++)
                hr[g] += h[k] * n->R[k * G + g];
        }
        for (size_t j = 0; j < U; j++) {
            if (n->kind == 0) {
                hn[j] = cell_act(n, xw[j] + hr[j]);
            } else if (n->kind == 1) {
                double i = sigm(xw[j] + hr[j]), f = sigm(xw[U + j] + hr[U + j]);
                double cc = cell_act(n, xw[2 * U + j] + hr[2 * U + j]);
                double o = sigm(xw[3 * U + j] + hr[3 * U + j]);
                cn[j] = f * c[j] + i * cc;
                hn[j] = o * cell_act(n, cn[j]);
            } else {
                double z = sigm(xw[j] + hr[j]), r = sigm(xw[U + j] + hr[U + j]), hh;
                if (n->reset_after) {
                    hh = cell_act(n, xw[2 * U + j] + r * hr[2 * U + j]);
                } else {
                    double rh = 0;
                    for (size_t k = 0; k < U; k++) {
                        double rk = sigm(xw[U + k] + hr[U + k]);
                        rh += rk * h[k] * n->R[k * G + 2 * U + j];
                    }
                    hh = cell_act(n, xw[2 * U + j] + rh);
                }
                hn[j] = z * h[j] + (1 - z) * hh;
            }
        }
        bool kept = !mask || mask[t];
        for (size_t j = 0; j < U; j++) {
            if (kept) {
                h[j] = hn[j];
                if (n->kind == 1)
                    c[j] = cn[j];
                out[j] = hn[j];
            } else if (n->zero_output) {
                out[j] = 0;
            }
            if (n->return_sequences)
                y[s * U + j] = (float)out[j];
        }
    }
    if (!n->return_sequences)
        for (size_t j = 0; j < U; j++)
            y[j] = (float)out[j];
}

