/* The chat page that `lamina serve` answers GET / with: index.html of this
 * folder, embedded at build time (embed.cmake), so the binary needs no files
 * at run time and the page works offline. */
#ifndef LAMINA_SERVE_PAGE_H
#define LAMINA_SERVE_PAGE_H

extern const char lm_page_html[];            /* the page's bytes, then a NUL */
extern const unsigned long lm_page_html_len; /* bytes, without the NUL */

#endif
