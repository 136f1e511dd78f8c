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

/* Split and certify one line (no newline, trailing spaces removed): 1 when every field has
 * exactly the syntax the SQL parser accepts, with f[0..14], *nfields and *t filled in. */
int linescan_certify(const unsigned char *p, Py_ssize_t n, Span *f, int *nfields, Times *t);

#endif
