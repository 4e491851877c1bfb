/* Seeded pseudo-random numbers: xoshiro256** (Blackman & Vigna, 2018) with
 * its state filled by splitmix64, plus the few derived draws nnc needs
 * (uniform double, standard normal, unbiased integer below n, shuffle).
 * No allocation, no global state: the caller owns the struct rng. */
#include "rng.h"

#include <math.h>

#include "diag.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64: a Weyl sequence (step 0x9e37...) passed through a 64-bit
 * mixing function. Used only to spread one seed over 256 bits of state, as
 * the xoshiro authors recommend; it never yields four zero words in a row. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

/* xoshiro256**: output rotl(s1 * 5, 7) * 9, then the xorshift/rotate step
 * of the 256-bit state. */
uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* rng_next n times into out, the state kept in locals (registers) for the
 * loop: the same numbers as n calls. */
void rng_fill(struct rng *r, uint64_t *out, size_t n)
{
    uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    for (size_t i = 0; i < n; i++) {
        out[i] = rotl(s1 * 5, 7) * 9;
        uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
    }
    r->s[0] = s0, r->s[1] = s1, r->s[2] = s2, r->s[3] = s3;
}

/* The top 53 bits as a multiple of 2^-53: every double in [0, 1) with that
 * spacing is equally likely. */
double rng_uniform(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Box-Muller: sqrt(-2 ln u1) cos(2 pi u2) is standard normal for independent
 * uniform u1 in (0, 1] and u2. The sine twin is dropped so that the state
 * stays the four words of struct rng (one normal = two draws, always). */
double rng_normal(struct rng *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* Rejection: 2^64 mod n values at the bottom of the range would make the
 * low residues more likely, so draws below that threshold are redrawn
 * (fewer than one in two on average, usually far fewer). */
size_t rng_below(struct rng *r, size_t n)
{
    NNC_ASSERT(n > 0);
    uint64_t m = (uint64_t)n;
    uint64_t threshold = (0 - m) % m; /* (2^64 - m) mod m == 2^64 mod m */
    for (;;) {
        uint64_t x = rng_next(r);
        if (x >= threshold)
            return (size_t)(x % m);
    }
}

/* Fisher-Yates, from the back: position i takes a uniform pick of [0, i]. */
void rng_shuffle(struct rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
