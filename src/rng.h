/* Seeded pseudo-random numbers (xoshiro256** seeded through splitmix64).
 * Always passed explicitly: there is no global generator, so the same seed
 * gives the same stream whatever else runs. */
#ifndef NNC_RNG_H
#define NNC_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
    uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
void rng_fill(struct rng *r, uint64_t *out, size_t n); /* n rng_next draws, faster */
double rng_uniform(struct rng *r);          /* [0, 1), 53 bits */
double rng_normal(struct rng *r);           /* standard normal */
size_t rng_below(struct rng *r, size_t n);  /* uniform in [0, n), unbiased; n > 0 */
void rng_shuffle(struct rng *r, size_t *idx, size_t n); /* Fisher-Yates */

#endif
