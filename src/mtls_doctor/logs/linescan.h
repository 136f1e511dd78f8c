/*
 * The compiled line scanner, shared between its two files: linescan_certify.c decides whether
 * a line has exactly the syntax parse.LINE_RE accepts (and splits it); _linescan.c walks a
 * buffer of lines and builds the Arrow columns. See _linescan.c for the whole story.
 */
#ifndef MTLS_DOCTOR_LINESCAN_H
#define MTLS_DOCTOR_LINESCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NCOLS 15
#define SUBJECT 7 /* 0-based index of the quoted subject */

typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
} Span;

/* A certified line's instants, in microseconds since the epoch (as DuckDB casts them). */
typedef struct {
    int64_t at, not_before, not_after;
    int has_validity; /* 0 when the validity field is "-" */
} Times;

void linescan_init_tables(void);

/* A certified line's route (linescan_route.c): the rows of one scan come back ordered by
 * route, each route a slice, so that a reader can hand each slice to whoever needs it
 * without testing rows again. */
enum { ROUTE_FAILED, ROUTE_EXPIRING, ROUTE_OTHER, NROUTES };

/* Where a row's field lies in the scanned buffer. */
typedef struct {
    int32_t start, len;
} Cut;

/* What one certified line left as a row carries besides its fields: with has_tid, its
 * conn_trace_id ("TID_" and 32 lower-case hex digits, as the ALB writes it) as 16 bytes. */
typedef struct {
    int64_t at, not_before, not_after;
    int32_t nf;
    uint8_t has_validity, route, has_tid;
    uint8_t tid[16];
} Row;

/* Lines counted per status ("-" or "Success"), minute and "more than 15 fields", when
 * folding (see linescan_route.c). */
typedef struct {
    int64_t minute, n, first, last;
    int key; /* bit 0: status "-" (else "Success"); bit 1: more than 15 fields; bit 2: outside
              * the time window (minute then 0) */
} FoldEntry;

typedef struct {
    int routing, on, out_of_memory; /* routes are made; lines are counted */
    int64_t horizon; /* microseconds: "Success" with a NotAfter before it is ROUTE_EXPIRING */
    int64_t since, until; /* the time window selected (microseconds, until excluded) */
    FoldEntry *e;    /* the counts, in the order first seen */
    int32_t *slots;  /* open addressing over e: an index, or -1 */
    Py_ssize_t used, nslots, recent;
} Fold;

/* The latest "expiring" row per client and certificate, when folding: see linescan_route.c.
 * slots hold a row index, or -1. */
typedef struct {
    int32_t *slots;
    Py_ssize_t used, nslots;
} Latest;

int linescan_route(const Fold *fold, Span status, const Times *t);
Py_ssize_t linescan_latest_slot(Latest *latest, const unsigned char *buf, const Cut *cuts,
                                const Span *f);
int linescan_fold(Fold *fold, Span status, int nfields, int64_t at, int selected);
PyObject *linescan_folded(const Fold *fold);
void linescan_fold_free(Fold *fold);

/* Split and certify one line (no newline, trailing spaces removed): 1 when every field has
 * exactly the syntax the SQL parser accepts, with f[0..14], *nfields and *t filled in. */
int linescan_certify(const unsigned char *p, Py_ssize_t n, Span *f, int *nfields, Times *t);

#endif
