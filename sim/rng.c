/* The simulator's PRNG: xoshiro256** (Blackman and Vigna), its state filled by splitmix64 from
 * one 64-bit seed. Invariant: the state is never all zero, so the stream never sticks. */
#include "sim.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void kq_sim_rng_seed(struct kq_sim_rng *r, uint64_t seed)
{
    KQ_ASSERT(r != NULL);
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    KQ_ASSERT((r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0);
}

uint64_t kq_sim_rng_next(struct kq_sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t kq_sim_rng_range(struct kq_sim_rng *r, uint64_t lo, uint64_t hi)
{
    KQ_ASSERT(lo <= hi);
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return kq_sim_rng_next(r);
    uint64_t n = span + 1;
    /* Reject the top partial block of the 2^64 outputs: values below `limit` map evenly. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
    uint64_t v;
    do
        v = kq_sim_rng_next(r);
    while (v > limit);
    return lo + v % n;
}

bool kq_sim_rng_chance(struct kq_sim_rng *r, uint32_t ppm)
{
    KQ_ASSERT(ppm <= KQ_SIM_PPM);
    return kq_sim_rng_range(r, 0, KQ_SIM_PPM - 1) < ppm;
}
