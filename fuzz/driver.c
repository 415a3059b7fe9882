/* Deterministic stand-in for libFuzzer: feeds every seed, every truncation of it, and a fixed
 * number of pseudo-random mutations (byte flips, insertions, deletions, splices, random bytes)
 * to the harness. Same binary, same inputs, every run. `--seeds DIR` writes the seeds as files
 * (a starting corpus for `make fuzz`). Usage: fuzz_X [iterations] | fuzz_X --seeds DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define DRIVER_MAX_INPUT (1u << 20)
#define DRIVER_MAX_SEEDS 64

static uint64_t rng_state = 0x6b657971756f7275ULL; /* fixed: runs are reproducible */

static uint64_t rng(void)
{
    /* xorshift64*: plenty for choosing mutations */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    unsigned rounds = 1 + (unsigned)(rng() % 4);
    for (unsigned r = 0; r < rounds; r++) {
        size_t pos = len ? (size_t)(rng() % len) : 0;
        switch (rng() % 6) {
        case 0: /* flip a bit */
            if (len)
                buf[pos] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* set a byte to an interesting value */
            if (len) {
                static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
                buf[pos] = vals[rng() % sizeof vals];
            }
            break;
        case 2: /* truncate */
            len = pos;
            break;
        case 3: /* insert a byte */
            if (len < cap) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = (uint8_t)rng();
                len++;
            }
            break;
        case 4: /* delete a byte */
            if (len) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            }
            break;
        default: /* overwrite a run with random bytes */
            for (size_t i = pos; i < len && i < pos + 8; i++)
                buf[i] = (uint8_t)rng();
            break;
        }
    }
    return len;
}

static int write_seeds(const char *dir)
{
    static uint8_t buf[DRIVER_MAX_INPUT];
    for (unsigned i = 0; i < DRIVER_MAX_SEEDS; i++) {
        size_t n = kq_fuzz_seed(i, buf, sizeof buf);
        if (n == 0)
            break;
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%02u", dir, i);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, n, f) != n) {
            fprintf(stderr, "cannot write %s\n", path);
            return 2;
        }
        fclose(f);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t seed[DRIVER_MAX_INPUT], buf[DRIVER_MAX_INPUT];
    unsigned long iterations = 20000;
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        return write_seeds(argv[2]);
    if (argc == 2)
        iterations = strtoul(argv[1], NULL, 10);
    unsigned long runs = 0;
    unsigned nseeds = 0;
    for (unsigned i = 0; i < DRIVER_MAX_SEEDS; i++, nseeds++) {
        size_t n = kq_fuzz_seed(i, seed, sizeof seed);
        if (n == 0)
            break;
        for (size_t cut = 0; cut <= n; cut++, runs++) /* every truncation */
            LLVMFuzzerTestOneInput(seed, cut);
        for (unsigned long k = 0; k < iterations; k++, runs++) {
            memcpy(buf, seed, n);
            size_t m = mutate(buf, n, sizeof buf);
            LLVMFuzzerTestOneInput(buf, m);
        }
    }
    for (unsigned long k = 0; k < iterations / 4; k++, runs++) { /* unstructured noise */
        size_t m = (size_t)(rng() % 512);
        for (size_t j = 0; j < m; j++)
            buf[j] = (uint8_t)rng();
        LLVMFuzzerTestOneInput(buf, m);
    }
    printf("fuzz driver: %u seeds, %lu inputs, no crash\n", nseeds, runs);
    return nseeds > 0 ? 0 : 1;
}
