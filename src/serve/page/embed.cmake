# Writes a C file holding a file's bytes as lm_page_html / lm_page_html_len.
# Run at build time on the host (also in a cross build):
#   cmake -DIN=index.html -DOUT=page_data.c -P embed.cmake
# Bytes as hex, not a string literal, so that no character of the page needs
# escaping and no compiler limit on string length applies.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])"
       "\\1\n" hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE "${OUT}.tmp"
     "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
     "#include \"page.h\"\n\n"
     "const char lm_page_html[] = {\n${hex}0x00};\n"
     "const unsigned long lm_page_html_len = ${n}UL;\n")
file(RENAME "${OUT}.tmp" "${OUT}")
message(STATUS "chat page: ${n} bytes embedded")
