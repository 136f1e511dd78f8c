/* The JSON-lines converter's shared parts: the record reader (jsonlines_read.c) and the
 * legacy-line writer (_jsonlines.c). */
#ifndef JSONLINES_H
#define JSONLINES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NFIELDS 15
#define SUBJECT 7 /* 0-based */
#define STATUS 10
#define CLIENT_IP 1
#define MAX_NUMBER 40
#define TIMESTAMP_SYNONYM (-2)

typedef struct {
    const unsigned char *p, *end;
} In;

typedef struct {
    unsigned char *buf;
    Py_ssize_t len, cap;
} Out;

/* A field's value: a span of the input (raw JSON string content or number), its kind. */
enum { V_NONE = 0, V_NULL, V_STRING, V_LITERAL, V_FLOAT };
typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
    int kind;
    int escaped; /* a string with backslash escapes */
    int from_synonym;
} Value;

/* Once, before any other call. */
void jsonlines_init(void);
/* One record (a line without its end) into values. 1 ok, 0 decline, 2 blank line. */
int jsonlines_read_record(In *in, Value *values);
/* Length of a valid UTF-8 sequence at p (0 if invalid). */
int jsonlines_utf8_len(const unsigned char *p, const unsigned char *end);

#endif
