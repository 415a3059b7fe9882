/* Constant-time validation hooks (the way BoringSSL validates with valgrind). KQ_SECRET marks
 * bytes as secret: under valgrind memcheck they become "undefined", so any branch or memory index
 * that depends on them is reported. KQ_DECLASSIFY marks a value derived from a secret as public
 * on purpose (a validity predicate such as "is this scalar zero", whose outcome is the same for
 * every valid secret). Natively both are a few no-op instructions; without valgrind's header they
 * compile to nothing. tests/ct/ runs the crypto core under valgrind with them. */
#ifndef KQ_BASE_CT_H
#define KQ_BASE_CT_H

#if defined(KQ_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#define KQ_SECRET(p, n)     ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define KQ_DECLASSIFY(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define KQ_SECRET(p, n)     ((void)(p), (void)(n))
#define KQ_DECLASSIFY(p, n) ((void)(p), (void)(n))
#endif

/* Returns v, declassified: for predicates on secrets whose result is meant to be public. */
static inline int kq_declassify_int(int v)
{
    KQ_DECLASSIFY(&v, sizeof v);
    return v;
}

#endif
