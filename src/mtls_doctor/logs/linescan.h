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
#define MIN_FIELDS 12 /* knowledge/fields.py MIN_FIELDS: fields 13-15 came later */
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

/* What one certified line left as a row carries besides its fields. */
typedef struct {
    int64_t at, not_before, not_after;
    int32_t nf;
    uint8_t has_validity, route;
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

/* Split and certify one line (no newline, trailing spaces removed): 1 when it has at least
 * MIN_FIELDS fields and every field has exactly the syntax the SQL parser accepts, with
 * f[0..14] (empty past the line's last field), *nfields and *t filled in. */
int linescan_certify(const unsigned char *p, Py_ssize_t n, Span *f, int *nfields, Times *t);

/* The part of linescan_certify for one field that comes split already (linescan_columns.c):
 * field c (0-based) outside the subject is a token (printable ASCII, no space, no double
 * quote), the subject valid UTF-8 without a control character or a double quote, and the
 * field has the syntax the SQL parser accepts; t's instants of the field are filled in. */
int linescan_certify_field(int c, Span s, Times *t);

/* A declined line (or row): its index in the scan, and where its bytes lie. */
typedef struct {
    Py_ssize_t index, start, len;
} Pending;

/* The rows of one scan, as pass 1 finds them; cuts are offsets into the pass's buffer. */
typedef struct {
    Cut *cuts;
    Row *meta;
    Py_ssize_t *sizes, n;
    Fold *fold;
    Latest latest;
} Rows;

/* A certified line (fields f, in buf) taken into rows: routed, counted, kept (_linescan.c).
 * 0 when out of memory. */
int linescan_take(Rows *rows, const unsigned char *buf, const Span *f, int nf, const Times *t);

/* What pass 1 of a scan found, for pass 2 and the result (_linescan.c). */
typedef struct {
    Fold *fold;
    Cut *cuts;
    Row *meta;
    int32_t *order;
    Pending *pending;
    Py_ssize_t sizes[NCOLS];
    Py_ssize_t rows, npending, seen, consumed;
    /* Whether pass 2 makes each row's conn_trace_id ("TID_" and 32 lower-case hex digits,
     * as the ALB writes it) into 16 bytes: only ingest stores them (store.py), and reading
     * them cost a tenth of a plain read's CPU. */
    int trace_ids;
} Scan;

/* Room for `lines` lines, and the routing argument read (linescan_route.c): 0 with an
 * exception set. linescan_scan_free frees what was allocated, also after a failure. */
int linescan_scan_alloc(Scan *s, Py_ssize_t lines, PyObject *routing);
void linescan_scan_free(Scan *s);
/* Pass 2 (order, columns) and the tuple scan() returns; buf holds the fields (with SLACK
 * bytes readable past size) and the declined lines. */
PyObject *linescan_result(Scan *s, const unsigned char *buf, Py_ssize_t size);

#define SLACK 32 /* bytes past each column's end, for the fixed-size copies of pass 2 */

PyObject *linescan_scan_columns(PyObject *self, PyObject *args);

/* A column of numbers as text (linescan_numbers.c): row r's text is text[offsets[r],
 * offsets[r + 1]), for rows [first, rows); undone[r] (when not NULL) marks a number written
 * otherwise by lines.py (not finite, or too large), whose row is then declined. */
typedef struct {
    int32_t *offsets;
    unsigned char *text;
    uint8_t *undone;
    Py_ssize_t size;
} Numbers;

int linescan_numbers_text(Numbers *out, int kind, const void *values, Py_ssize_t offset,
                          Py_ssize_t first, Py_ssize_t rows);
void linescan_numbers_free(Numbers *numbers);
/* The bytes scan_columns keeps its verdicts on a dictionary of `values` values in. */
Py_ssize_t linescan_verdicts_size(Py_ssize_t values);

#endif
