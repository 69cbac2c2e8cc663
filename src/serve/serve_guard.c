/* Who may use `lamina serve`, decided from a request's headers before its
 * body is read: the Host a browser was pointed at, the Origin of the page
 * that sent it, the body's Content-Type and the API key. No sockets here.
 *
 * Why: a web page can send requests to a server on this machine. Without a
 * preflight it can post forms and "simple" fetches (text/plain, form
 * encodings), which the Content-Type rule refuses; a cross-origin fetch
 * carries an Origin, refused unless listed with --cors-origin; and DNS
 * rebinding (a page's own name made to resolve to 127.0.0.1, making it
 * same-origin) is refused by the Host rule: bound to loopback, only loopback
 * names and --allow-host names are answered, as Jupyter and Ollama do. */
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "serve.h"

int serve_address_is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
}

/* The length of the name in "name[:port]" or "[v6]:port", or 0 where the
 * text is not of that form (the port, when there, is 1 to 5 digits). */
static size_t host_name_len(const char *host) {
    size_t n;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end) return 0;
        n = (size_t)(end - host) + 1;
    } else {
        n = strcspn(host, ":");
    }
    if (n == 0) return 0;
    const char *port = host + n;
    if (*port == '\0') return n;
    if (*port != ':') return 0;
    size_t digits = strspn(port + 1, "0123456789");
    return digits >= 1 && digits <= 5 && port[1 + digits] == '\0' ? n : 0;
}

static int name_is(const char *name, size_t n, const char *want) {
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* An --allow-host entry: "*" admits any Host, a name with a port admits that
 * name and port, a bare name admits it on any port. */
static int entry_admits(const char *entry, const char *host, size_t name_len) {
    if (strcmp(entry, "*") == 0) return 1;
    size_t entry_name = host_name_len(entry);
    if (entry_name && entry[entry_name] == ':') return strcasecmp(entry, host) == 0;
    return name_is(host, name_len, entry);
}

int serve_host_allowed(const serve_config *cfg, int loopback_bound, const char *host) {
    if (!loopback_bound && cfg->n_allow_hosts == 0) return 1; /* any, as Ollama does */
    if (!host) return 0;
    size_t n = host_name_len(host);
    if (n == 0) return 0;
    if (name_is(host, n, "localhost") || name_is(host, n, "127.0.0.1") || name_is(host, n, "[::1]"))
        return 1;
    for (int i = 0; i < cfg->n_allow_hosts; i++)
        if (entry_admits(cfg->allow_hosts[i], host, n)) return 1;
    return 0;
}

/* Same origin: the page came from this very Host (http, or https through a
 * TLS proxy that keeps the Host). The Host has been checked before. */
static int same_origin(const char *origin, const char *host) {
    if (!host) return 0;
    const char *rest = strncasecmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncasecmp(origin, "https://", 8) == 0 ? origin + 8
                                                                 : NULL;
    return rest && strcasecmp(rest, host) == 0;
}

serve_origin serve_origin_check(const serve_config *cfg, const char *origin, const char *host) {
    if (!origin) return SERVE_ORIGIN_NONE;
    if (same_origin(origin, host)) return SERVE_ORIGIN_SAME;
    for (int i = 0; i < cfg->n_cors_origins; i++) {
        const char *o = cfg->cors_origins[i];
        if (strcmp(o, "*") == 0 || strcasecmp(o, origin) == 0) return SERVE_ORIGIN_ALLOWED;
    }
    return SERVE_ORIGIN_REFUSED;
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* One "; name=value" parameter of a media type: only charset matters, and
 * JSON is UTF-8 (RFC 8259), so any other charset is refused. */
static int param_ok(const char *p, size_t n) {
    const char *eq = memchr(p, '=', n);
    if (!eq) return 0;
    size_t name = (size_t)(eq - p);
    while (name && (p[name - 1] == ' ' || p[name - 1] == '\t')) name--;
    if (!(name == 7 && strncasecmp(p, "charset", 7) == 0)) return 1;
    const char *v = skip_space(eq + 1);
    size_t len = (size_t)(p + n - v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') v++, len -= 2;
    return (len == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
           (len == 4 && strncasecmp(v, "utf8", 4) == 0);
}

int serve_json_content_type(const char *value) {
    if (!value) return 0;
    const char *p = skip_space(value);
    static const char json[] = "application/json";
    if (strncasecmp(p, json, sizeof json - 1) != 0) return 0;
    p = skip_space(p + sizeof json - 1);
    while (*p == ';') {
        p = skip_space(p + 1);
        size_t n = strcspn(p, ";");
        if (n && !param_ok(p, n)) return 0;
        p += n;
    }
    return *p == '\0';
}

/* "Bearer KEY" (the scheme in any case, RFC 7235) against the expected key,
 * in time that depends only on the expected key's length, so a timing
 * attack learns nothing of the key. */
int serve_key_matches(const char *header, const char *key) {
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *given = skip_space(header + 7);
    size_t n_given = strlen(given), n_key = strlen(key);
    unsigned char diff = n_given != n_key;
    for (size_t i = 0; i < n_key; i++)
        diff |= (unsigned char)((i < n_given ? given[i] : 0) ^ key[i]);
    return diff == 0;
}

/* An absolute-form target ("http://host/path", RFC 9112 3.2.2, what a client
 * talking to a proxy sends) is routed by its path; its authority takes the
 * place of the Host header. Other targets are returned as they are. */
const char *serve_target_path(const char *url, char *authority, size_t cap) {
    authority[0] = '\0';
    const char *rest = strncasecmp(url, "http://", 7) == 0    ? url + 7
                       : strncasecmp(url, "https://", 8) == 0 ? url + 8
                                                              : NULL;
    if (!rest) return url;
    size_t n = strcspn(rest, "/");
    if (n < cap)
        snprintf(authority, cap, "%.*s", (int)n, rest);
    else
        snprintf(authority, cap, "?"); /* too long to be a name: refused where Host is checked */
    return rest[n] ? rest + n : "/";
}
