/*
 * Routing and folding of certified lines, for readers that feed several queries
 * (logs/split.py, diagnose/stream.py).
 *
 * Route: each certified line is "failed" (status Failed:<code>), "expiring" (status Success
 * and a NotAfter before the horizon) or "other". The routes are a cheap test on raw fields;
 * the SQL that reads the rows still makes every exact choice.
 *
 * Fold: when on, every certified line that is not "failed" is counted, per status ("-" or
 * "Success"), minute and "more than 15 fields", with its first and last instant. An "other"
 * line (status "-", or "Success" with no validity or a NotAfter at or after the horizon) is
 * then not returned as a row at all: a diagnosis of every row needs no more of it, and they
 * are most lines. An "expiring" line is still returned, for the questions about expiry.
 */
#include "linescan.h"

#define MINUTE_US 60000000LL

int linescan_route(const Fold *fold, Span status, const Times *t)
{
    /* certified: the status is "-", "Success" or "Failed:<code>" */
    if (!fold->routing)
        return ROUTE_OTHER;
    if (status.n > 7 && status.p[0] == 'F')
        return ROUTE_FAILED;
    if (status.n == 7 && t->has_validity && t->not_after < fold->horizon)
        return ROUTE_EXPIRING;
    return ROUTE_OTHER;
}

static Py_ssize_t slot_of(const Fold *fold, int64_t minute, int key)
{
    uint64_t h = ((uint64_t)minute * 0x9E3779B97F4A7C15ull) ^ (uint64_t)key;
    Py_ssize_t i = (Py_ssize_t)((h >> 17) & (uint64_t)(fold->nslots - 1));
    while (fold->slots[i] >= 0) {
        const FoldEntry *e = &fold->e[fold->slots[i]];
        if (e->minute == minute && e->key == key)
            break;
        i = (i + 1) & (fold->nslots - 1);
    }
    return i;
}

/* Room for one more count: the slots stay at most half full. */
static int grow(Fold *fold)
{
    if ((fold->used + 1) * 2 <= fold->nslots)
        return 1;
    Py_ssize_t nslots = fold->nslots ? fold->nslots * 2 : 64;
    FoldEntry *e = PyMem_RawRealloc(fold->e, sizeof(FoldEntry) * (size_t)(nslots / 2));
    int32_t *slots = PyMem_RawMalloc(sizeof(int32_t) * (size_t)nslots);
    if (e)
        fold->e = e;
    if (!e || !slots) {
        PyMem_RawFree(slots);
        return 0;
    }
    PyMem_RawFree(fold->slots);
    fold->slots = slots;
    fold->nslots = nslots;
    memset(slots, 0xff, sizeof(int32_t) * (size_t)nslots);
    for (Py_ssize_t k = 0; k < fold->used; k++)
        slots[slot_of(fold, fold->e[k].minute, fold->e[k].key)] = (int32_t)k;
    return 1;
}

/* Count a line; 0 when out of memory. */
int linescan_fold(Fold *fold, Span status, int nfields, int64_t at)
{
    int key = (status.n == 1 ? 1 : 0) | (nfields > NCOLS ? 2 : 0);
    /* floor division: date_trunc('minute', ...) truncates instants before 1970 down too */
    int64_t minute = at >= 0 ? at / MINUTE_US : -((-at + MINUTE_US - 1) / MINUTE_US);
    FoldEntry *e = fold->used ? &fold->e[fold->recent] : NULL;
    if (!(e && e->minute == minute && e->key == key)) { /* lines mostly come in time order */
        if (!grow(fold))
            return 0;
        Py_ssize_t i = slot_of(fold, minute, key);
        if (fold->slots[i] < 0) {
            fold->slots[i] = (int32_t)fold->used;
            fold->e[fold->used++] = (FoldEntry){minute, 0, at, at, key};
        }
        fold->recent = fold->slots[i];
        e = &fold->e[fold->recent];
    }
    e->n++;
    if (at < e->first)
        e->first = at;
    if (at > e->last)
        e->last = at;
    return 1;
}

void linescan_fold_free(Fold *fold)
{
    if (fold) {
        PyMem_RawFree(fold->e);
        PyMem_RawFree(fold->slots);
    }
    PyMem_RawFree(fold);
}

/* [(not_tls, extra_fields, minute start us, count, first us, last us)] */
PyObject *linescan_folded(const Fold *fold)
{
    PyObject *list = PyList_New(fold->used);
    for (Py_ssize_t i = 0; list && i < fold->used; i++) {
        const FoldEntry *e = &fold->e[i];
        PyObject *item = Py_BuildValue("(iiLLLL)", e->key & 1, (e->key & 2) != 0,
                                       (long long)(e->minute * MINUTE_US), (long long)e->n,
                                       (long long)e->first, (long long)e->last);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}
