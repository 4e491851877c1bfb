/* CSV/TSV reading: header and delimiter detection, quoted fields (libcsv),
 * CRLF, BOM, comment lines, column selection by name / index / "a:b" range,
 * strict numbers, missing values, class-name targets. Rows are streamed
 * (csv_read fills caller buffers), so predict can answer batch by batch
 * from a pipe. */
#ifndef NNC_CSV_H
#define NNC_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "../diag.h"
#include "../spec.h"

struct csv_options {
    int header;          /* -1 detect, 0 no header row, 1 header row */
    int delimiter;       /* 0 detect (',' '\t' ';' '|' or blanks; a .tsv name means
                          * tab); ' ' means runs of spaces and tabs (quotes literal) */
    const char *comment; /* lines starting with this are skipped; NULL: none */
    bool has_na;         /* missing feature values (empty, NA, N/A, NULL, null, None,
                          * nan, ...) become na_value instead of an error */
    float na_value;
};

struct csv_reader;

/* Opens path ("-" = standard input), reads enough to settle the delimiter,
 * the header and the column count. Empty input is an error. Detection: blank
 * and comment lines are passed over; the first content line's most frequent
 * of , TAB ; | outside quotes; without any, blanks when that line has two
 * or more blank-separated numbers (or a header with as many fields as the
 * next line); else ',' (one column). */
int csv_open(struct csv_reader **out, const char *path, const struct csv_options *opt,
             struct diag *d);
void csv_close(struct csv_reader *r);

size_t csv_n_columns(const struct csv_reader *r);
bool csv_has_header(const struct csv_reader *r);
/* The header name of column i, or NULL when there is no header. */
const char *csv_column_name(const struct csv_reader *r, size_t i);
const char *csv_path(const struct csv_reader *r);

/* Resolves a data-section selection: a column name, an integer index
 * (negative counts from the end), a Python-style range string "a:b", or a
 * list of those. Errors are located at the spec node and name the file
 * ("column 'lable' not in data.csv (did you mean 'label'?)"). *cols is
 * malloc'd; the caller frees it. */
int csv_resolve_columns(const struct csv_reader *r, const struct spec_node *sel, size_t **cols,
                        size_t *n_cols, struct diag *d);

/* Chooses the columns that csv_read returns: features in the given order,
 * then the target columns (n_target may be 0: predict). */
int csv_select(struct csv_reader *r, const size_t *feature_cols, size_t n_features,
               const size_t *target_cols, size_t n_target, struct diag *d);
/* The file column (0-based) of the j-th feature csv_read returns. */
size_t csv_feature_column(const struct csv_reader *r, size_t j);

/* Class names for a single non-numeric target column. With classes fixed
 * (evaluate: the checkpoint's names), an unknown name is an error naming the
 * row and field. Without them (train), names get indices in order of first
 * appearance and can be read back with csv_classes. */
void csv_fix_classes(struct csv_reader *r, char *const *names, size_t n);
char *const *csv_classes(const struct csv_reader *r, size_t *n);
/* True once the target column turned out to hold names. */
bool csv_target_is_class(const struct csv_reader *r);

/* Reads up to max_rows rows: features into x (max_rows, n_features), targets
 * into y (max_rows, n_target; class index as a float for a name column).
 * Numbers are exactly (float)strtod(text). Returns the rows read, 0 at the
 * end, -1 on error with a located message: "data.csv:42: expected 5
 * fields, found 4", "data.csv:17:3: 'abc' is not a number", "data.csv:9:2:
 * missing value", NaN/Inf rejected the same way. Row and field are 1-based
 * and count lines of the file (the header is line 1 when present). */
long csv_read(struct csv_reader *r, size_t max_rows, float *x, float *y, struct diag *d);

/* The file line where row k (k < the count it returned) of the last
 * csv_read began: rows may be apart (blank and comment lines) or span
 * lines (quoted newlines). */
size_t csv_row_line(const struct csv_reader *r, size_t k);

#endif
