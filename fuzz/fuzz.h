/* Fuzz harness contract. Each fuzz/fuzz_*.c defines LLVMFuzzerTestOneInput (libFuzzer's entry
 * point) and kq_fuzz_seed, which writes valid encodings to start from. Built two ways: with clang
 * -fsanitize=fuzzer for coverage-guided fuzzing (`make fuzz`), and with fuzz/driver.c, a
 * deterministic mutation loop that runs in ctest on every build (and under ASan in `make asan`). */
#ifndef KQ_FUZZ_FUZZ_H
#define KQ_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes seed number i (0, 1, ...) into buf (cap bytes) and returns its length, or 0 when there
 * are no more seeds. Seeds are valid encodings made with the real encoders. */
size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap);

/* Harnesses call this once; it initialises libsodium. */
void kq_fuzz_init(void);

#define KQ_FUZZ_CHECK(cond)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#endif
