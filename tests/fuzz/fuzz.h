/* Shared helpers for the libFuzzer targets.
 *
 * Targets that need several strings take them from one input split at NUL
 * bytes: the fuzzer mutates each field independently (NUL is an ordinary
 * byte to it) and the seed files stay readable text with \0 separators. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FIELDS 16

struct fuzz_fields {
        char *copy;                    /* one allocation holding every field */
        const char *f[FUZZ_MAX_FIELDS]; /* missing trailing fields are NULL */
        size_t len[FUZZ_MAX_FIELDS];
        size_t n;
};

/* Splits data at NUL into at most max fields (the last one takes the rest,
 * NULs and all, as its len says). */
static inline int fuzz_split(const uint8_t *data, size_t size, size_t max, struct fuzz_fields *ret) {
        memset(ret, 0, sizeof *ret);
        if (max > FUZZ_MAX_FIELDS)
                max = FUZZ_MAX_FIELDS;
        ret->copy = malloc(size + 1);
        if (!ret->copy)
                return -1;
        memcpy(ret->copy, data, size);
        ret->copy[size] = '\0';
        size_t start = 0;
        while (ret->n < max) {
                size_t end = start;
                if (ret->n + 1 < max)
                        while (end < size && ret->copy[end])
                                end++;
                else
                        end = size;
                ret->f[ret->n] = ret->copy + start;
                ret->len[ret->n] = end - start;
                ret->n++;
                if (end >= size)
                        break;
                start = end + 1;
        }
        return 0;
}

static inline void fuzz_fields_free(struct fuzz_fields *ff) {
        free(ff->copy);
        ff->copy = NULL;
}

static inline uint64_t fuzz_u64(const uint8_t *p, size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n && i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* A property the module promises did not hold: crash so libFuzzer keeps the
 * input, with a line saying which promise broke. */
#define FUZZ_ASSERT(cond, ...)                                                 \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "FUZZ_ASSERT(%s) failed at %s:%d: ", #cond, __FILE__, __LINE__); \
                        fprintf(stderr, __VA_ARGS__);                          \
                        fputc('\n', stderr);                                   \
                        abort();                                               \
                }                                                              \
        } while (0)
