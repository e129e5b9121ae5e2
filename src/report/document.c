/* One document, two renderings: the report and the report diff are written
 * once through these calls and come out as Markdown or as one self-contained
 * HTML page (inline CSS and SVG, no script, no font or other fetch), which
 * reflows on a phone and prints without the screen's colours. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "report_internal.h"

static const char page_style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:72rem;padding:1rem;color:#1b1b1b;line-height:1.45}"
    "h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}"
    "h3{font-size:1.05rem}"
    ".table{overflow-x:auto}table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child,td.text{text-align:left}th{background:#f2f4f7}"
    "tr:nth-child(even) td{background:#fafbfc}"
    "td.worse{color:#b00020}td.better{color:#0a6b2d}"
    "figure{margin:1rem 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{font-size:.85rem;color:#555}"
    ".answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:.75rem}"
    ".answer{border:1px solid #ddd;border-radius:6px;padding:.5rem .75rem}"
    ".answer p{white-space:pre-wrap;overflow-wrap:anywhere;margin:.25rem 0 0;font-size:.9rem}"
    ".note{font-size:.85rem;color:#444}"
    "@media print{body{max-width:none;padding:0}figure,table,.answer{break-inside:avoid}"
    "th{background:none}tr:nth-child(even) td{background:none}}";

void kd_document_begin(document *doc, int html, const char *title)
{
    *doc = (document){.html = html};
    if (!html) {
        kd_text_printf(&doc->text, "# %s\n", title);
        return;
    }
    kd_text_printf(&doc->text, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                               "<meta name=\"viewport\" content=\"width=device-width, "
                               "initial-scale=1\">\n<title>");
    kd_text_append_xml(&doc->text, title);
    kd_text_printf(&doc->text, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", page_style);
    kd_text_append_xml(&doc->text, title);
    kd_text_printf(&doc->text, "</h1>\n");
}

kd_status kd_document_finish(document *doc, const char *path)
{
    if (doc->html)
        kd_text_printf(&doc->text, "</body>\n</html>\n");
    kd_status status = kd_text_buffer_write(&doc->text, path);
    kd_text_buffer_free(&doc->text);
    return status;
}

/* Text as it must appear: escaped in HTML; in Markdown a table cell's
 * '|' is escaped and line breaks become spaces. */
static void plain(document *doc, const char *text)
{
    if (doc->html) {
        kd_text_append_xml(&doc->text, text);
        return;
    }
    for (const char *c = text; *c; c++) {
        if (doc->in_table && *c == '|')
            kd_text_printf(&doc->text, "\\|");
        else if (doc->in_table && (*c == '\n' || *c == '\r'))
            kd_text_printf(&doc->text, " ");
        else
            kd_text_printf(&doc->text, "%c", *c);
    }
}

void kd_document_heading(document *doc, int level, const char *text)
{
    if (doc->html) {
        kd_text_printf(&doc->text, "<h%d>", level);
        plain(doc, text);
        kd_text_printf(&doc->text, "</h%d>\n", level);
    } else {
        kd_text_printf(&doc->text, "\n%.*s ", level, "######");
        plain(doc, text);
        kd_text_printf(&doc->text, "\n");
    }
}

void kd_document_paragraph(document *doc, const char *fmt, ...)
{
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    kd_text_printf(&doc->text, doc->html ? "<p class=\"note\">" : "\n");
    plain(doc, text);
    kd_text_printf(&doc->text, doc->html ? "</p>\n" : "\n");
}

void kd_document_table_begin(document *doc, const char *const *columns, int count)
{
    doc->in_table = 1;
    if (doc->html) {
        kd_text_printf(&doc->text, "<div class=\"table\"><table>\n<thead><tr>");
        for (int i = 0; i < count; i++) {
            kd_text_printf(&doc->text, "<th>");
            plain(doc, columns[i]);
            kd_text_printf(&doc->text, "</th>");
        }
        kd_text_printf(&doc->text, "</tr></thead>\n<tbody>\n");
    } else {
        kd_text_printf(&doc->text, "\n|");
        for (int i = 0; i < count; i++) {
            kd_text_printf(&doc->text, " ");
            plain(doc, columns[i]);
            kd_text_printf(&doc->text, " |");
        }
        kd_text_printf(&doc->text, "\n|");
        for (int i = 0; i < count; i++)
            kd_text_printf(&doc->text, "%s|", i == 0 ? "---" : "---:");
        kd_text_printf(&doc->text, "\n");
    }
}

void kd_document_row_begin(document *doc)
{
    kd_text_printf(&doc->text, doc->html ? "<tr>" : "|");
}

void kd_document_row_end(document *doc)
{
    kd_text_printf(&doc->text, doc->html ? "</tr>\n" : "\n");
}

void kd_document_table_end(document *doc)
{
    if (doc->html)
        kd_text_printf(&doc->text, "</tbody></table></div>\n");
    doc->in_table = 0;
}

void kd_document_marked_cell(document *doc, const char *text, const char *mark)
{
    if (doc->html) {
        if (mark && *mark)
            kd_text_printf(&doc->text, "<td class=\"%s\">", mark);
        else
            kd_text_printf(&doc->text, "<td>");
        plain(doc, text);
        kd_text_printf(&doc->text, "</td>");
    } else {
        kd_text_printf(&doc->text, " ");
        plain(doc, text);
        kd_text_printf(&doc->text, " |");
    }
}

void kd_document_cell(document *doc, const char *text)
{
    kd_document_marked_cell(doc, text, "text");
}

void kd_document_number_cell(document *doc, const char *format, double value)
{
    char text[64] = "-";
    if (isfinite(value))
        snprintf(text, sizeof text, format, value);
    kd_document_marked_cell(doc, text, NULL); /* right-aligned */
}

void kd_document_chart(document *doc, const report_chart *chart)
{
    if (!doc->html) {
        kd_text_printf(&doc->text, "\n![%s](%s)\n\n", chart->caption, chart->file);
        return;
    }
    kd_text_printf(&doc->text, "<figure>\n%s<figcaption>", chart->svg);
    plain(doc, chart->caption);
    kd_text_printf(&doc->text, "</figcaption>\n</figure>\n");
}

void kd_document_answers_begin(document *doc)
{
    if (doc->html)
        kd_text_printf(&doc->text, "<div class=\"answers\">\n");
}

/* Markdown: a block quote, so the answer's own line breaks and markup stay
 * inside it. */
void kd_document_answer(document *doc, const char *who, const char *role, const char *answer)
{
    if (doc->html) {
        kd_text_printf(&doc->text, "<div class=\"answer\"><strong>");
        plain(doc, who);
        kd_text_printf(&doc->text, "</strong> <small>");
        plain(doc, role);
        kd_text_printf(&doc->text, "</small><p>");
        plain(doc, answer[0] ? answer : "(empty)");
        kd_text_printf(&doc->text, "</p></div>\n");
        return;
    }
    kd_text_printf(&doc->text, "\n**%s** (%s):\n\n> ", who, role);
    for (const char *c = answer; *c; c++)
        kd_text_printf(&doc->text, *c == '\n' ? "\n> " : "%c", *c);
    kd_text_printf(&doc->text, "%s\n", answer[0] ? "" : "*(empty)*");
}

void kd_document_answers_end(document *doc)
{
    if (doc->html)
        kd_text_printf(&doc->text, "</div>\n");
}
