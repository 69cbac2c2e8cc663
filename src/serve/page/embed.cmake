# Writes a C file holding a file's bytes as lm_page_html / lm_page_html_len.
# Run at build time on the host (also in a cross build):
#   cmake -DIN=index.html -DOUT=page_data.c -P embed.cmake
# Bytes as character constants ('\xe2'), not one string literal, so that no
# compiler limit on string length applies, and not as integers, which gcc
# warns about (-Woverflow) where char is signed and the byte is over 0x7f.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])"
       "\\1\n" hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," hex "${hex}")
file(WRITE "${OUT}.tmp"
     "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
     "#include \"page.h\"\n\n"
     "const char lm_page_html[] = {\n${hex}'\\0'};\n"
     "const unsigned long lm_page_html_len = ${n}UL;\n")
file(RENAME "${OUT}.tmp" "${OUT}")
message(STATUS "chat page: ${n} bytes embedded")
