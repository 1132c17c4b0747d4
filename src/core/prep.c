#include "core/prep.h"
#include "core/tri_err.h"

#include <gumbo.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

/* HTML beyond this is not parsed: visible email text is far shorter, and it
 * bounds gumbo's recursive tree teardown on hostile nesting. */
#define PREP_HTML_MAX (256u << 10)
/* The renderer does not descend deeper than this (hostile nesting). */
#define PREP_HTML_DEPTH 200
/* Lines longer than this are never reply headers, sign-offs or markers. */
#define PREP_MARKER_MAX 300

struct prep {
    buf_t body;   /* one field, rendered and cleaned */
    buf_t work;   /* scratch copy */
    buf_t fold;   /* a case-folded line */
};

int prep_new(prep_t **out, char *err, size_t errlen)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
}

void prep_free(prep_t *p)
{
    if (!p)
        return;
    buf_free(&p->body);
    buf_free(&p->work);
    buf_free(&p->fold);
    free(p);
}

static const char *const mode_names[PREP_NMODES] = {"plain", "tweet", "email"};

const char *prep_mode_name(int mode) { return mode >= 0 && mode < PREP_NMODES ? mode_names[mode] : "unknown"; }

int prep_mode_parse(const char *s)
{
    for (int i = 0; i < PREP_NMODES; i++)
        if (!strcmp(s, mode_names[i]))
            return i;
    return -1;
}

int prep_mode_from_meta(const json_t *meta, int *mode, char *err, size_t errlen)
{
    *mode = PREP_PLAIN;
    const json_t *p = json_object_get(meta, "prep");
    if (!p)
        return 0;
    const char *s = json_string_value(json_object_get(p, "mode"));
    int m = s ? prep_mode_parse(s) : -1;
    if (m < 0)
        return tri_errf(err, errlen, TRI_EFORMAT, "model wants text preparation '%s', which this build does not know",
                        s ? s : "(not a string)");
    *mode = m;
    return 0;
}

int prep_has_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 1;
    return 0;
}

/* ---- small string helpers ---- */

static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !strncasecmp(s + n - k, suffix, k);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

static void trim(const char **s, size_t *n)
{
    while (*n && is_ws(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ws((*s)[*n - 1]))
        (*n)--;
}

/* Case-folds a short line into p->fold (NUL-terminated). Returns its text,
 * or NULL when it cannot (not valid UTF-8, out of memory). */
static const char *fold(prep_t *p, const char *s, size_t n)
{
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                      UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (m < 0)
        return NULL;
    buf_reset(&p->fold);
    buf_append(&p->fold, dst, (size_t)m);
    free(dst);
    const char *r = buf_cstr(&p->fold);
    return p->fold.oom ? NULL : r;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

static int starts_with_any(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strncmp(s, *list, strlen(*list)))
            return 1;
    return 0;
}

/* ---- HTML to visible text ---- */

typedef struct render {
    buf_t *out;
    int nl;       /* line breaks owed before the next character (0..2) */
    int space;    /* a space owed */
    int quote;    /* <blockquote> depth: lines start with that many "> " */
    int pre;      /* inside <pre>: whitespace kept */
} render_t;

static void owe_break(render_t *r, int n)
{
    if (r->out->len && r->nl < n)
        r->nl = n;
}

static void put_char(render_t *r, const char *c, size_t n)
{
    if (r->nl) {
        for (int i = 0; i < r->nl; i++)
            buf_putc(r->out, '\n');
        r->nl = 0;
        r->space = 0;
    }
    if (!r->out->len || r->out->p[r->out->len - 1] == '\n') {
        for (int i = 0; i < r->quote; i++)
            buf_append(r->out, "> ", 2);
        r->space = 0;
    }
    if (r->space) {
        buf_putc(r->out, ' ');
        r->space = 0;
    }
    buf_append(r->out, c, n);
}

static void render_text(render_t *r, const char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        for (size_t k = 1; k < n; k++)
            if (!s[i + k]) {
                n = k;
                break;
            }
        int nbsp = n == 2 && c == 0xC2 && (unsigned char)s[i + 1] == 0xA0;
        if (r->pre && c == '\n') {
            r->nl++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || nbsp) {
            if (r->pre)
                put_char(r, " ", 1);
            else
                r->space = 1;
        } else {
            put_char(r, s + i, n);
        }
        i += n;
    }
}

static int attr_hides(const GumboElement *e)
{
    if (gumbo_get_attribute(&e->attributes, "hidden"))
        return 1;
    const GumboAttribute *a = gumbo_get_attribute(&e->attributes, "aria-hidden");
    if (a && !strcasecmp(a->value, "true"))
        return 1;
    a = gumbo_get_attribute(&e->attributes, "style");
    if (!a)
        return 0;
    /* Compare without spaces: "display : none" hides as well. */
    char s[256];
    size_t n = 0;
    for (const char *p = a->value; *p && n + 1 < sizeof s; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n')
            s[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    s[n] = '\0';
    return strstr(s, "display:none") || strstr(s, "visibility:hidden") || strstr(s, "max-height:0") ||
           strstr(s, "font-size:0");
}

static void render_node(render_t *r, const GumboNode *node, int depth)
{
    if (depth > PREP_HTML_DEPTH)
        return;
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA) {
        render_text(r, node->v.text.text);
        return;
    }
    if (node->type == GUMBO_NODE_WHITESPACE) {
        render_text(r, node->v.text.text);
        return;
    }
    if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_TEMPLATE && node->type != GUMBO_NODE_DOCUMENT)
        return;
    const GumboVector *kids = node->type == GUMBO_NODE_DOCUMENT ? &node->v.document.children
                                                                : &node->v.element.children;
    int before = 0, after = 0, quote = 0, pre = 0;
    if (node->type != GUMBO_NODE_DOCUMENT) {
        const GumboElement *e = &node->v.element;
        switch (e->tag) {
        case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE:
        case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT:
        case GUMBO_TAG_SVG: case GUMBO_TAG_MATH: case GUMBO_TAG_SELECT: case GUMBO_TAG_BUTTON:
            return;
        case GUMBO_TAG_BR:
            if (r->nl < 2)
                r->nl++;
            r->space = 0;
            return;
        case GUMBO_TAG_HR:
            owe_break(r, 2);
            return;
        case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
        case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_TABLE:
        case GUMBO_TAG_DL:
            before = after = 2;
            break;
        case GUMBO_TAG_BLOCKQUOTE:
            before = after = 1;
            quote = 1;
            break;
        case GUMBO_TAG_PRE:
            before = after = 2;
            pre = 1;
            break;
        case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_TR: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
        case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
        case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE: case GUMBO_TAG_MAIN: case GUMBO_TAG_ADDRESS:
        case GUMBO_TAG_CENTER: case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGURE:
        case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_CAPTION: case GUMBO_TAG_BODY: case GUMBO_TAG_HTML:
            before = after = 1;
            break;
        case GUMBO_TAG_TD: case GUMBO_TAG_TH:
            r->space = 1;
            break;
        default:
            break;
        }
        if (attr_hides(e))
            return;
    }
    owe_break(r, before);
    r->quote += quote;
    r->pre += pre;
    for (unsigned i = 0; i < kids->length; i++)
        render_node(r, kids->data[i], depth + 1);
    r->quote -= quote;
    r->pre -= pre;
    owe_break(r, after);
    if (node->type == GUMBO_NODE_ELEMENT &&
        (node->v.element.tag == GUMBO_TAG_TD || node->v.element.tag == GUMBO_TAG_TH))
        r->space = 1;
}

/* Where the markup first nests deeper than PREP_HTML_DEPTH (n when it does
 * not). gumbo checks scopes against its stack of open elements on every tag,
 * so deep nesting costs quadratic time (2,000 nested <div> took 0.2 s, 1,000
 * <div><b> 0.7 s); real mail nests a few dozen deep. A rough count of start
 * and end tags is enough to bound that. */
static size_t depth_cut(const char *s, size_t n)
{
    static const char *const voids[] = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area",
                                        "base", "source", "track", "embed", "param", NULL};
    size_t depth = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '<')
            continue;
        if (s[i + 1] == '/') {
            depth -= depth > 0;
            continue;
        }
        if (!((s[i + 1] >= 'a' && s[i + 1] <= 'z') || (s[i + 1] >= 'A' && s[i + 1] <= 'Z')))
            continue;
        size_t k = i + 1;
        while (k < n && k - i < 12 && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
                                       (s[k] >= '0' && s[k] <= '9')))
            k++;
        int v = 0;
        for (const char *const *w = voids; *w && !v; w++)
            v = strlen(*w) == k - i - 1 && !strncasecmp(s + i + 1, *w, k - i - 1);
        if (!v && ++depth > PREP_HTML_DEPTH)
            return i;
    }
    return n;
}

static int html_to_text(const char *s, size_t n, buf_t *out)
{
    if (n > PREP_HTML_MAX)
        n = PREP_HTML_MAX;
    n = depth_cut(s, n);
    GumboOutput *g = gumbo_parse_with_options(&kGumboDefaultOptions, s, n);
    if (!g)
        return TRI_ENOMEM;
    render_t r = {.out = out};
    render_node(&r, g->document, 0);
    gumbo_destroy_output(&kGumboDefaultOptions, g);
    return out->oom ? TRI_ENOMEM : 0;
}

static int looks_like_html(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (is_ws(s[i]) || s[i] == '\n'))
        i++;
    if (i + 1 >= n || s[i] != '<')
        return 0;
    char c = s[i + 1];
    return c == '!' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- quoted replies and signatures ---- */

typedef struct line {
    const char *s;  /* trimmed */
    size_t n;
    const char *raw;
    size_t rawn;
} line_t;

static line_t line_at(const char *s, size_t n, size_t *pos)
{
    line_t l;
    size_t i = *pos;
    const char *e = memchr(s + i, '\n', n - i);
    size_t end = e ? (size_t)(e - s) : n;
    l.raw = s + i;
    l.rawn = end - i;
    l.s = l.raw;
    l.n = l.rawn;
    trim(&l.s, &l.n);
    *pos = e ? end + 1 : n;
    return l;
}

/* "wrote:" in the languages mail clients write it in (case-folded). */
static const char *const wrote_words[] = {
    "wrote", "writes", "schrieb", "a écrit", "escribió", "ha scritto", "schreef", "escreveu", "skrev",
    "napisał", "napisała", "написал", "написала", "написал(а)", "kirjoitti", "írta", "yazdı", "έγραψε",
    "wrote the following", NULL,
};
/* What starts such a line ("On Mon, 5 Jan 2026 ... wrote:"). */
static const char *const reply_openers[] = {
    "on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "på ", "w dniu ", "dnia ", "в ", "от ", NULL,
};
static const char *const from_words[] = {"from", "von", "de", "da", "van", "från", "fra", "od", "от", "de la", NULL};
static const char *const sent_words[] = {
    "sent", "date", "gesendet", "datum", "envoyé", "enviado", "fecha", "inviato", "data", "verzonden",
    "skickat", "sendt", "wysłano", "отправлено", "дата", "to", "an", "à", "para", "a", "aan", "till", NULL,
};
static const char *const marker_phrases[] = {
    "original message", "ursprüngliche nachricht", "message d'origine", "mensaje original",
    "messaggio originale", "oorspronkelijk bericht", "mensagem original", "ursprungligt meddelande",
    "forwarded message", "weitergeleitete nachricht", "message transféré", "mensaje reenviado",
    "messaggio inoltrato", "doorgestuurd bericht", "mensagem encaminhada", "vidarebefordrat meddelande",
    "original-nachricht", "исходное сообщение", "пересылаемое сообщение", "original email", NULL,
};
static const char *const marker_lines[] = {
    "begin forwarded message:", "anfang der weitergeleiteten nachricht:", "début du message réexpédié :",
    "début du message réexpédié:", "inicio del mensaje reenviado:", "inizio messaggio inoltrato:",
    "begin doorgestuurd bericht:", "início da mensagem reencaminhada:", NULL,
};
static const char *const sent_from[] = {
    "sent from my ", "sent from mail for ", "sent from outlook", "sent from yahoo mail", "sent via ",
    "get outlook for ", "von meinem ", "gesendet von meinem ", "gesendet mit ", "envoyé de mon ",
    "envoyé depuis mon ", "enviado desde mi ", "enviado do meu ", "inviato da ", "verzonden vanaf mijn ",
    "verstuurd vanaf mijn ", "skickat från min ", "отправлено с ", NULL,
};
static const char *const signoffs[] = {
    "thanks", "thank you", "thanks again", "many thanks", "thanks in advance", "thank you in advance", "thx",
    "cheers", "regards", "best regards", "kind regards", "warm regards", "warmest regards", "best wishes",
    "best", "all the best", "sincerely", "yours sincerely", "sincerely yours", "yours truly", "yours faithfully",
    "respectfully", "br", "kr", "mit freundlichen grüssen", "freundliche grüsse", "viele grüsse",
    "beste grüsse", "liebe grüsse", "herzliche grüsse", "grüsse", "gruss", "lg", "vg", "mfg", "cordialement",
    "bien cordialement", "bien à vous", "merci", "merci beaucoup", "salutations", "saludos", "un saludo",
    "atentamente", "saludos cordiales", "muchas gracias", "gracias", "cordiali saluti", "distinti saluti",
    "saluti", "grazie", "met vriendelijke groet", "vriendelijke groet", "groeten", "atenciosamente",
    "cumprimentos", "obrigado", "obrigada", "med vänliga hälsningar", "vänliga hälsningar", "hälsningar",
    "mvh", "med venlig hilsen", "venlig hilsen", "pozdrawiam", "с уважением", "спасибо", NULL,
};

/* The case-folded text before the first ':' of a header-like line, if the
 * colon comes early ("From:", "Envoyé :"). */
static const char *header_name(prep_t *p, const line_t *l)
{
    const char *c = memchr(l->s, ':', l->n < 24 ? l->n : 24);
    if (!c)
        return NULL;
    size_t k = (size_t)(c - l->s);
    while (k && is_ws(l->s[k - 1]))
        k--;
    return k ? fold(p, l->s, k) : NULL;
}

static int is_wrote_line(prep_t *p, const line_t *l)
{
    if (l->n < 2 || l->n > PREP_MARKER_MAX || l->s[l->n - 1] != ':')
        return 0;
    size_t k = l->n - 1;
    while (k && is_ws(l->s[k - 1]))
        k--;
    const char *f = fold(p, l->s, k);
    if (!f)
        return 0;
    size_t fn = strlen(f);
    for (const char *const *w = wrote_words; *w; w++)
        if (ends_with_ci(f, fn, *w))
            return 1;
    /* German, Dutch, Scandinavian clients name the sender after the verb:
     * "Am 05.01.2026 um 10:03 schrieb Jane <jane@x.example>:". */
    if (!starts_with_any(f, reply_openers))
        return 0;
    for (const char *const *w = wrote_words; *w; w++) {
        const char *hit = strstr(f, *w);
        size_t wl = strlen(*w);
        if (hit && hit > f && hit[-1] == ' ' && hit[wl] == ' ')
            return 1;
    }
    return 0;
}

/* A reply header that does not start like one ("On ...") still names a date
 * or an address: "Here is what your agent wrote:" is text, not a header. */
static int header_evidence(const line_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i] == '@' || (l->s[i] >= '0' && l->s[i] <= '9'))
            return 1;
    return 0;
}

static int is_marker_line(prep_t *p, const line_t *l)
{
    if (!l->n || l->n > PREP_MARKER_MAX)
        return 0;
    const char *f = fold(p, l->s, l->n);
    if (!f)
        return 0;
    if (in_list(f, marker_lines))
        return 1;
    if (f[0] != '-' && f[0] != '_' && f[0] != '=' && f[0] != '*')
        return 0;
    for (const char *const *m = marker_phrases; *m; m++)
        if (strstr(f, *m))
            return 1;
    return 0;
}

static int is_rule_line(const line_t *l)
{
    if (l->n < 10)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i] != '_' && l->s[i] != '-' && l->s[i] != '=')
            return 0;
    return 1;
}

/* Where the quoted part of a body starts (its length when there is none). */
static size_t reply_cut(prep_t *p, const char *s, size_t n)
{
    size_t pos = 0;
    line_t prev = {0}, prev2 = {0};
    size_t prev_start = 0, prev2_start = 0;
    while (pos < n) {
        size_t start = pos;
        line_t l = line_at(s, n, &pos);
        if (is_marker_line(p, &l))
            return start;
        if (is_wrote_line(p, &l)) {
            const char *f = fold(p, l.s, l.n < 40 ? l.n : 40);
            if (f && starts_with_any(f, reply_openers))
                return start;
            /* Gmail wraps long headers: "On Mon, ... <a@b.c>\nwrote:". */
            f = prev.s && prev.n ? fold(p, prev.s, prev.n < 40 ? prev.n : 40) : NULL;
            if (f && starts_with_any(f, reply_openers) && prev.s[prev.n - 1] != '.')
                return prev_start;
            if (header_evidence(&l))
                return start;
        }
        const char *h = header_name(p, &l);
        if (h && in_list(h, from_words)) {
            /* Outlook: From: / Sent: / To: / Subject: lines. */
            size_t q = pos;
            for (int k = 0; k < 4 && q < n; k++) {
                line_t nx = line_at(s, n, &q);
                const char *hn = header_name(p, &nx);
                if (hn && in_list(hn, sent_words)) {
                    if (prev.s && is_rule_line(&prev))
                        return prev_start;
                    if (prev2.s && !prev.n && is_rule_line(&prev2))
                        return prev2_start;
                    return start;
                }
            }
        }
        prev2 = prev;
        prev2_start = prev_start;
        prev = l;
        prev_start = start;
    }
    return n;
}

/* Whether what follows a sign-off looks like a name block: a few short lines. */
static int short_tail(const char *s, size_t n, size_t pos)
{
    int lines = 0;
    while (pos < n) {
        line_t l = line_at(s, n, &pos);
        if (!l.n)
            continue;
        if (l.n > 60 || ++lines > 5)
            return 0;
    }
    return lines > 0;
}

/* Where the signature starts (n when there is none). */
static size_t sig_cut(prep_t *p, const char *s, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        size_t start = pos;
        line_t l = line_at(s, n, &pos);
        if ((l.rawn == 3 && !memcmp(l.raw, "-- ", 3)) || (l.rawn == 2 && !memcmp(l.raw, "--", 2)))
            return start;
        if (!l.n || l.n > 80)
            continue;
        const char *f = fold(p, l.s, l.n);
        if (!f)
            continue;
        if (starts_with_any(f, sent_from))
            return start;
        /* "Best regards," / "Thanks!" then a name. */
        size_t k = strlen(f);
        while (k && (f[k - 1] == ',' || f[k - 1] == '!' || f[k - 1] == '.' || f[k - 1] == ' '))
            k--;
        p->fold.p[k] = '\0';
        if (in_list(p->fold.p, signoffs) && short_tail(s, n, pos))
            return start;
    }
    return n;
}

/* Appends s without '>' quote lines, trailing spaces per line, leading and
 * trailing blank lines, and with blank-line runs squeezed to one. */
static void tidy(const char *s, size_t n, buf_t *out)
{
    size_t pos = 0;
    int blank = 0, any = 0;
    while (pos < n) {
        line_t l = line_at(s, n, &pos);
        if (l.n && l.s[0] == '>')
            continue;
        if (!l.n) {
            blank = any;
            continue;
        }
        if (any)
            buf_append(out, blank ? "\n\n" : "\n", blank ? 2 : 1);
        /* Keep the indentation, drop the trailing spaces. */
        buf_append(out, l.raw, (size_t)(l.s - l.raw) + l.n);
        blank = 0;
        any = 1;
    }
}

static int is_subject_field(const char *name) { return ends_with_ci(name, strlen(name), "subject"); }
static int is_html_field(const char *name) { return ends_with_ci(name, strlen(name), "html"); }

/* "Re: Fwd: AW: Booking" -> "Booking". */
static void strip_reply_prefixes(const char **s, size_t *n)
{
    static const char *const pre[] = {"re", "fw", "fwd", "aw", "wg", "tr", "sv", "vs", "rv", "enc", "r", "i",
                                      "antw", "odp", "res", NULL};
    for (;;) {
        trim(s, n);
        const char *c = memchr(*s, ':', *n < 6 ? *n : 6);
        if (!c)
            return;
        size_t k = (size_t)(c - *s);
        int hit = 0;
        for (const char *const *w = pre; *w && !hit; w++)
            hit = strlen(*w) == k && !strncasecmp(*s, *w, k);
        if (!hit)
            return;
        *s += k + 1;
        *n -= k + 1;
    }
}

static void email_field(prep_t *p, const prep_field_t *f, buf_t *out)
{
    if (is_subject_field(f->name)) {
        const char *s = f->p;
        size_t n = f->len;
        strip_reply_prefixes(&s, &n);
        /* A subject is one line; folded headers keep their words. */
        buf_reset(&p->work);
        for (size_t i = 0; i < n; i++)
            buf_putc(&p->work, s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i]);
        if (!prep_has_text(p->work.p, p->work.len))
            return;
        if (out->len)
            buf_putc(out, '\n');
        buf_append(out, "subject: ", 9);
        buf_append(out, p->work.p, p->work.len);
        return;
    }
    buf_reset(&p->body);
    if (is_html_field(f->name) || looks_like_html(f->p, f->len))
        html_to_text(f->p, f->len, &p->body);
    else
        buf_append(&p->body, f->p, f->len);
    /* Cut the quoted reply first: a sign-off above it is judged on the text
     * that remains. Quote lines are dropped before looking for the signature
     * so a bottom-posted reply keeps its own text. */
    size_t cut = reply_cut(p, p->body.p, p->body.len);
    buf_reset(&p->work);
    tidy(p->body.p, cut, &p->work);
    cut = sig_cut(p, p->work.p, p->work.len);
    size_t mark = out->len;
    if (out->len)
        buf_putc(out, '\n');
    size_t before = out->len;
    tidy(p->work.p, cut, out);
    if (out->len == before)
        out->len = mark;
}

static void tweet_field(const prep_field_t *f, buf_t *out)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
    for (size_t i = 0; i < f->len;) {
        int hit = 0;
        if (f->p[i] == '&')
            for (size_t e = 0; e < sizeof ents / sizeof *ents && !hit; e++) {
                size_t k = strlen(ents[e].ent);
                if (i + k <= f->len && !memcmp(f->p + i, ents[e].ent, k)) {
                    buf_putc(out, ents[e].c);
                    i += k;
                    hit = 1;
                }
            }
        if (!hit)
            buf_putc(out, f->p[i++]);
    }
}

int prep_run(prep_t *p, int mode, const prep_field_t *f, size_t n, buf_t *out)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (!f[i].p)
            continue;
        switch (mode) {
        case PREP_EMAIL:
            email_field(p, &f[i], out);
            break;
        case PREP_TWEET:
            if (out->len)
                buf_putc(out, '\n');
            tweet_field(&f[i], out);
            break;
        default:
            if (out->len)
                buf_putc(out, '\n');
            buf_append(out, f[i].p, f[i].len);
            break;
        }
    }
    return out->oom || p->body.oom || p->work.oom ? TRI_ENOMEM : 0;
}
