/* testutil — small helpers shared by the unit tests (header-only). */
#ifndef TESTUTIL_H
#define TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

/* A reference UTF-8 validator written independently of the library's, to
 * check what the tokenizer and the JSON writer produce: no overlong forms,
 * no surrogates, nothing above U+10FFFF, no truncated sequence. */
static inline int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            k = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (i + k > n || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k;
    }
    return 1;
}

/* xorshift64*: a seeded stream, the same on every platform, for the
 * randomized robustness loops. Seed rng_state before use. */
static uint64_t rng_state;
static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
