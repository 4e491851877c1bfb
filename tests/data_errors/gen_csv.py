#!/usr/bin/env python3
"""Writes the malformed CSV files of tests/data_errors (csv_*.csv; the files
are checked in, this script documents how each was made and can remake
them). Each is trained with tests/data_errors/model.yaml (2 features, 2
classes) and must stop with the one-line error in its .err file. Standard
library only. Run from the repository root."""

D = "tests/data_errors/"
HEAD = b"a,b,label\n"

FILES = {
    # shape of the table
    "csv_ragged": HEAD + b"1,2,0\n3,4\n",
    "csv_ragged_long": HEAD + b"1,2,0\n3,4,1,5\n",
    "csv_empty": b"",
    "csv_header_only": HEAD,
    "csv_blank_lines_only": b"\n \r\n\t\n",
    "csv_one_column": b"1\n2\n",
    "csv_three_features": b"a,b,c,label\n1,2,3,0\n",
    # quoting
    "csv_unterminated_quote": HEAD + b'1,2,0\n3,"4,1\n5,6,0\n',
    "csv_quote_in_field": HEAD + b'1,2"3,0\n',
    "csv_text_after_quote": HEAD + b'1,"2"x,0\n',
    # line numbers after quoted newlines, CRLF and a BOM
    "csv_line_after_quoted_newline": b'a,b,"the\nlabel"\n1,2,0\n3,4,1\n5,six,0\n',
    "csv_label_after_blank_lines": HEAD + b"1,2,0\n\n\r\n3,4,1\n5,6,7\n",
    "csv_bom_crlf_ragged": b"\xef\xbb\xbf" + HEAD.replace(b"\n", b"\r\n") + b"1,2,0\r\n\r\n3,4\r\n",
    # bytes that are not text
    "csv_nul_byte": HEAD + b"1,2\x00,0\n",
    "csv_not_utf8": HEAD + b"1,\xff\xfe,0\n",
    "csv_header_not_utf8": b"a,\xc3\x28,label\n1,2,0\n",
    # values
    "csv_missing_value": HEAD + b"1,2,0\n3,,1\n",
    "csv_missing_label": HEAD + b"1,2,0\n3,4,\n",
    "csv_nan": HEAD + b"1,2,0\nnan,4,1\n",
    "csv_inf": HEAD + b"1,2,0\n3,-Infinity,1\n",
    "csv_not_a_number": HEAD + b"1,2,0\n3,4x,1\n",
    "csv_hex_number": HEAD + b"0x10,2,0\n",
    "csv_float_overflow": HEAD + b"1,3.5e38,0\n",
    "csv_double_overflow": HEAD + b"1,1e999,0\n",
    "csv_label_out_of_range": HEAD + b"1,2,0\n3,4,2\n",
    "csv_label_negative": HEAD + b"1,2,0\n3,4,-1\n",
    "csv_label_fraction": HEAD + b"1,2,0\n3,4,0.5\n",
    "csv_three_class_names": HEAD + b"1,2,cat\n3,4,dog\n5,6,eel\n",
}

for name, data in FILES.items():
    with open(D + name + ".csv", "wb") as f:
        f.write(data)
