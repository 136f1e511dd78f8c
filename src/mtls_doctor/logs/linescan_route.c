/*
 * Routing and folding of certified lines, for readers that feed several queries
 * (logs/split.py, diagnose/stream.py).
 *
 * Route: each certified line is "failed" (status Failed:<code>), "expiring" (status Success
 * and a NotAfter before the horizon) or "other". The routes are a cheap test on raw fields;
 * the SQL that reads the rows still makes every exact choice.
 *
 * Fold: when on, every certified line that is not "failed" is counted, per status ("-" or
 * "Success"), minute and "more than 15 fields", with its first and last instant. A line
 * outside the time window (the one filter a fold allows) is counted apart, without its
 * minute, and is never a row unless it failed: only the line statistics count it. An "other"
 * line (status "-", or "Success" with no validity or a NotAfter at or after the horizon) is
 * then not returned as a row at all: a diagnosis of every row needs no more of it, and they
 * are most lines. An "expiring" line is still returned, for the questions about expiry; but
 * those ask, per client and certificate, only when it was last seen (diagnose/stream.py), so
 * of the expiring lines of one scan with the same client, subject, validity and serial only
 * the latest is returned. Grouped by derived values, as the SQL does, the latest of each
 * group of raw values still gives each group's latest.
 *
 * Also here: a scan's per-line memory and its routing argument (linescan_scan_alloc), which
 * scan() and scan_columns() share.
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
int linescan_fold(Fold *fold, Span status, int nfields, int64_t at, int selected)
{
    int key = (status.n == 1 ? 1 : 0) | (nfields > NCOLS ? 2 : 0) | (selected ? 0 : 4);
    /* floor division: date_trunc('minute', ...) truncates instants before 1970 down too */
    int64_t minute = at >= 0 ? at / MINUTE_US : -((-at + MINUTE_US - 1) / MINUTE_US);
    if (!selected)
        minute = 0;
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

/* The fields that say which client used which certificate. */
static const int KEY_FIELDS[] = {1, 7, 8, 9};
#define NKEY 4

static uint64_t mix(uint64_t h, const unsigned char *p, Py_ssize_t n)
{
    uint64_t w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; n > 0; p++, n--)
        h = (h ^ *p) * 0x100000001B3ull;
    return h;
}

static Py_ssize_t probe(const Latest *latest, const unsigned char *buf, const Cut *cuts,
                        const Span *key)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int k = 0; k < NKEY; k++)
        h = mix(h ^ (uint64_t)key[k].n, key[k].p, key[k].n);
    Py_ssize_t i = (Py_ssize_t)((h ^ (h >> 32)) & (uint64_t)(latest->nslots - 1));
    for (;; i = (i + 1) & (latest->nslots - 1)) {
        int32_t r = latest->slots[i];
        if (r < 0)
            return i;
        int same = 1;
        for (int k = 0; same && k < NKEY; k++) {
            const Cut c = cuts[(Py_ssize_t)r * NCOLS + KEY_FIELDS[k]];
            same = c.len == key[k].n && memcmp(buf + c.start, key[k].p, (size_t)c.len) == 0;
        }
        if (same)
            return i;
    }
}

static int grow_latest(Latest *latest, const unsigned char *buf, const Cut *cuts)
{
    if ((latest->used + 1) * 2 <= latest->nslots)
        return 1;
    Latest bigger = {NULL, latest->used, latest->nslots ? latest->nslots * 2 : 1024};
    bigger.slots = PyMem_RawMalloc(sizeof(int32_t) * (size_t)bigger.nslots);
    if (!bigger.slots)
        return 0;
    memset(bigger.slots, 0xff, sizeof(int32_t) * (size_t)bigger.nslots);
    for (Py_ssize_t i = 0; i < latest->nslots; i++) {
        int32_t r = latest->slots[i];
        if (r < 0)
            continue;
        Span key[NKEY];
        for (int k = 0; k < NKEY; k++) {
            const Cut c = cuts[(Py_ssize_t)r * NCOLS + KEY_FIELDS[k]];
            key[k] = (Span){buf + c.start, c.len};
        }
        bigger.slots[probe(&bigger, buf, cuts, key)] = r;
    }
    PyMem_RawFree(latest->slots);
    *latest = bigger;
    return 1;
}

/* The slot of the row with the client and certificate of fields f (-1 in it when there is
 * none yet); -1 when out of memory. */
Py_ssize_t linescan_latest_slot(Latest *latest, const unsigned char *buf, const Cut *cuts,
                                const Span *f)
{
    if (!grow_latest(latest, buf, cuts))
        return -1;
    Span key[NKEY];
    for (int k = 0; k < NKEY; k++)
        key[k] = f[KEY_FIELDS[k]];
    return probe(latest, buf, cuts, key);
}

void linescan_fold_free(Fold *fold)
{
    if (fold) {
        PyMem_RawFree(fold->e);
        PyMem_RawFree(fold->slots);
    }
    PyMem_RawFree(fold);
}

/* The counts as columns (int32 key, then int64 minute start us, count, first us, last us),
 * for Arrow: a year of logs may hold millions of minutes, too many for Python objects. */
PyObject *linescan_folded(const Fold *fold)
{
    Py_ssize_t n = fold->used;
    PyObject *cols[5] = {PyByteArray_FromStringAndSize(NULL, n * 4)};
    for (int c = 1; c < 5; c++)
        cols[c] = PyByteArray_FromStringAndSize(NULL, n * 8);
    PyObject *result = NULL;
    if (cols[0] && cols[1] && cols[2] && cols[3] && cols[4]) {
        int32_t *key = (int32_t *)PyByteArray_AS_STRING(cols[0]);
        int64_t *at[4];
        for (int c = 1; c < 5; c++)
            at[c - 1] = (int64_t *)PyByteArray_AS_STRING(cols[c]);
        for (Py_ssize_t i = 0; i < n; i++) {
            const FoldEntry *e = &fold->e[i];
            key[i] = e->key;
            at[0][i] = e->minute * MINUTE_US;
            at[1][i] = e->n;
            at[2][i] = e->first;
            at[3][i] = e->last;
        }
        result = PyTuple_Pack(5, cols[0], cols[1], cols[2], cols[3], cols[4]);
    }
    for (int c = 0; c < 5; c++)
        Py_XDECREF(cols[c]);
    return result;
}

/* An instant in microseconds, or `otherwise` for None. */
static int micros_or(PyObject *value, int64_t otherwise, int64_t *out)
{
    *out = value == Py_None ? otherwise : PyLong_AsLongLong(value);
    return !(*out == -1 && PyErr_Occurred());
}

/* routing is None (every row "other", in the order read) or (horizon, fold, since, until):
 * instants in microseconds or None. */
static int parse_routing(PyObject *routing, Fold *fold)
{
    fold->horizon = INT64_MIN;
    fold->since = INT64_MIN;
    fold->until = INT64_MAX;
    if (routing == Py_None)
        return 1;
    PyObject *horizon, *since, *until;
    if (!PyTuple_Check(routing)) {
        PyErr_SetString(PyExc_TypeError, "routing must be None or (horizon, fold, since, until)");
        return 0;
    }
    if (!PyArg_ParseTuple(routing, "OpOO", &horizon, &fold->on, &since, &until))
        return 0;
    fold->routing = 1;
    return micros_or(horizon, INT64_MIN, &fold->horizon) &&
           micros_or(since, INT64_MIN, &fold->since) &&
           micros_or(until, INT64_MAX, &fold->until);
}

int linescan_scan_alloc(Scan *s, Py_ssize_t lines, PyObject *routing)
{
    memset(s, 0, sizeof(*s));
    s->fold = PyMem_RawCalloc(1, sizeof(Fold));
    if (!s->fold) {
        PyErr_NoMemory();
        return 0;
    }
    if (!parse_routing(routing, s->fold))
        return 0;
    /* Room for `lines` (pages never touched cost nothing) rather than counting the lines
     * first, which was a second pass over every byte. */
    size_t n = lines > 0 ? (size_t)lines : 1;
    s->cuts = PyMem_RawMalloc(sizeof(Cut) * NCOLS * n);
    s->meta = PyMem_RawMalloc(sizeof(Row) * n);
    s->order = PyMem_RawMalloc(sizeof(int32_t) * n);
    s->pending = PyMem_RawMalloc(sizeof(Pending) * n);
    if (!s->cuts || !s->meta || !s->order || !s->pending) {
        PyErr_NoMemory();
        return 0;
    }
    return 1;
}

void linescan_scan_free(Scan *s)
{
    if (s->fold)
        linescan_fold_free(s->fold);
    PyMem_RawFree(s->cuts);
    PyMem_RawFree(s->meta);
    PyMem_RawFree(s->order);
    PyMem_RawFree(s->pending);
}
