/*
 * Routing and folding of certified lines, for readers that feed several queries
 * (logs/split.py, diagnose/stream.py).
 *
 * Route: each certified line is "failed" (status Failed:<code>), "expiring" (status Success
 * and a NotAfter before the horizon) or "other". The routes are a cheap test on raw fields;
 * the SQL that reads the rows still makes every exact choice.
 *
 * Fold: when on, an "other" line (status "-", or "Success" with no validity or a NotAfter
 * at or after the horizon) is not returned as a row but counted, per status, minute and
 * "more than 15 fields", with its first and last instant. A diagnosis of every row needs no
 * more of such a line, and they are most lines. A scan's lines fall in a few minutes; a line
 * whose minute finds no free slot is simply returned as a row.
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

/* Count an "other" line in its slot: 0 when folding is off or no slot is free. */
int linescan_fold(Fold *fold, Span status, int nfields, int64_t at)
{
    if (!fold->on)
        return 0;
    int key = (status.n == 1 ? 1 : 0) | (nfields > NCOLS ? 2 : 0);
    /* floor division: date_trunc('minute', ...) truncates instants before 1970 down too */
    int64_t minute = at >= 0 ? at / MINUTE_US : -((-at + MINUTE_US - 1) / MINUTE_US);
    FoldEntry *e = &fold->e[fold->recent];
    if (!(fold->used && e->minute == minute && e->key == key)) {
        int i = 0;
        while (i < fold->used && !(fold->e[i].minute == minute && fold->e[i].key == key))
            i++;
        if (i == FOLD_SLOTS)
            return 0;
        e = &fold->e[i];
        if (i == fold->used) {
            *e = (FoldEntry){minute, 0, at, at, key};
            fold->used++;
        }
        fold->recent = i;
    }
    e->n++;
    if (at < e->first)
        e->first = at;
    if (at > e->last)
        e->last = at;
    return 1;
}

/* [(not_tls, extra_fields, minute start us, count, first us, last us)] */
PyObject *linescan_folded(const Fold *fold)
{
    PyObject *list = PyList_New(fold->used);
    for (int i = 0; list && i < fold->used; i++) {
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
