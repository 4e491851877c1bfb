/* Decimal text -> float32, fast and exact: the result is always the float
 * that strtod's correctly rounded double converts to ((float)strtod(s)),
 * bit for bit. Short significands take Clinger's fast path (one exact
 * multiply or divide); everything else goes to strtod. No allocation, no
 * locale (the decimal point is '.'). */
#ifndef NNC_DECIMAL_H
#define NNC_DECIMAL_H

#include <stddef.h>

enum decimal_status {
    DECIMAL_OK,         /* *out holds the value */
    DECIMAL_INVALID,    /* not a decimal number (hex, blanks, trailing text, empty) */
    DECIMAL_NOT_FINITE, /* "nan", "inf", "infinity" in any case, with a sign or not */
    DECIMAL_RANGE,      /* finite text whose value is beyond float32's range */
};

/* s[0..n) is the whole number, no blanks around it; s[n] must be '\0'
 * (strtod reads the slow cases in place). Grammar as strtod's in the C
 * locale minus hexadecimal: [+-] digits [. digits] [(e|E) [+-] digits],
 * with at least one digit before or after the point, or inf/infinity/nan
 * (nan(chars) too). Underflow is not an error: it rounds to 0 or a
 * subnormal as strtod does. */
enum decimal_status decimal_to_float(const char *s, size_t n, float *out);

#endif
