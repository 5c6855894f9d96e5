/*
 * The reports of more than one server: `kaprobe chain`, a front and its backend side
 * by side with the verdict on their idle timeouts and the demonstration's count, and
 * `kaprobe compare`, one column per server and one row per check. Each as a table, as
 * Markdown, or as one JSON object that holds the probe's own objects.
 */
#include <stdio.h>
#include <string.h>

#include "probe/probe.h"

#define CELL 64

/* A Markdown cell: | ends a cell. */
static void md_text(FILE *out, const char *s)
{
	for (; *s; s++)
		fputs(*s == '|' ? "\\|" : (char[2]){ *s, 0 }, out);
}

static void row(FILE *out, enum kp_format fmt, const char *label, const char *const *cells,
                size_t n, int width)
{
	if (fmt == KP_MARKDOWN) {
		fprintf(out, "| %s |", label);
		for (size_t i = 0; i < n; i++) {
			fputc(' ', out);
			md_text(out, cells[i]);
			fputs(" |", out);
		}
		fputc('\n', out);
		return;
	}
	fprintf(out, "%-24s", label);
	for (size_t i = 0; i < n; i++)
		fprintf(out, " %-*s", width, cells[i]);
	fputc('\n', out);
}

static void md_rule(FILE *out, size_t columns)
{
	fputs("|---|", out);
	for (size_t i = 0; i < columns; i++)
		fputs("---|", out);
	fputc('\n', out);
}

static const char *server_name(const struct kp_results *r)
{
	return r->has_server ? r->server : "(no Server header)";
}

/* ---- chain ------------------------------------------------------------------------------------ */

static const char *const verdict_names[] = {
	[KP_CHAIN_UNKNOWN] = "unknown", [KP_CHAIN_OK] = "ok",
	[KP_CHAIN_FRONT_LONGER] = "front_outlives_backend",
};

static void chain_json(FILE *out, const struct kp_results *fr, const struct kp_results *br,
                       enum kp_chain_verdict v, const struct kp_chain_demo *d, const char *method,
                       const struct kp_findings *findings)
{
	fputs("{\n  \"front\": ", out);
	kp_report_probe_json_object(out, fr, 2);
	fputs(",\n  \"backend\": ", out);
	kp_report_probe_json_object(out, br, 2);
	fprintf(out, ",\n  \"verdict\": \"%s\",\n  \"demonstration\": ", verdict_names[v]);
	if (d->ran)
		fprintf(out, "{\"method\": \"%s\", \"requests\": %u, \"failures\": %u, \"status_5xx\": %u, "
		        "\"reset\": %u, \"closed\": %u, \"timed_out\": %u, \"gap_min_s\": %.3f, "
		        "\"gap_max_s\": %.3f, \"backend_timeout_s\": %.3f}", method, d->requests,
		        d->failures, d->status_5xx, d->reset, d->closed, d->timed_out, d->gap_min_s,
		        d->gap_max_s, d->backend_timeout_s);
	else
		fputs("null", out);
	fputs(",\n  \"findings\": ", out);
	kp_report_findings_json(out, findings);
	fputs("\n}\n", out);
}

void kp_report_chain(FILE *out, enum kp_format fmt, const struct kp_target *front,
                     const struct kp_target *back, const struct kp_results *fr,
                     const struct kp_results *br, enum kp_chain_verdict v,
                     const struct kp_chain_demo *d, const char *method,
                     const struct kp_findings *findings)
{
	static const struct { const char *label; enum kp_check id; } rows[] = {
		{ "idle timeout", KP_IDLE_TIMEOUT },
		{ "requests per connection", KP_MAX_REQUESTS },
		{ "Keep-Alive", KP_KEEP_ALIVE_HEADER },
		{ "advertised vs enforced", KP_ADVERTISED },
	};
	const struct kp_results *sides[2] = { fr, br };
	char text[2][CELL];
	const char *cells[2] = { text[0], text[1] };
	bool md = fmt == KP_MARKDOWN;

	if (fmt == KP_JSON) {
		chain_json(out, fr, br, v, d, method, findings);
		return;
	}
	if (md)
		fprintf(out, "## kaprobe chain %s %s\n\n", front->url, back->url);
	else
		fprintf(out, "kaprobe chain %s (%s) -> %s (%s)\n\n", front->url, front->addr_text,
		        back->url, back->addr_text);
	const char *head[2] = { "front", "backend (direct)" };
	row(out, fmt, md ? "" : "", head, 2, 28);
	if (md)
		md_rule(out, 2);
	const char *names[2] = { server_name(fr), server_name(br) };
	row(out, fmt, "server", names, 2, 28);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (int s = 0; s < 2; s++)
			kp_report_result_text(sides[s], rows[i].id, text[s], CELL);
		row(out, fmt, rows[i].label, cells, 2, 28);
	}
	fprintf(out, "\n%sverdict%s: %s\n", md ? "**" : "", md ? "**" : "",
	        v == KP_CHAIN_FRONT_LONGER
	        ? "the front keeps idle connections longer than the backend allows: reused "
	          "upstream connections race the backend's close, and requests fail with 502"
	        : v == KP_CHAIN_OK ? "the front lets idle connections go no later than the backend "
	                             "does"
	        : "unknown (an idle timeout was not measured within --max-wait)");
	if (d->ran)
		fprintf(out, "\n%sdemonstration%s: %u %s requests through the front, each after an "
		        "idle gap of %.3f to %.3f s (the backend's idle timeout %.3f s); %u failed "
		        "(%u 5xx, %u reset, %u closed, %u timed out)%s%s\n", md ? "**" : "", md ? "**" : "",
		        d->requests, method, d->gap_min_s, d->gap_max_s, d->backend_timeout_s,
		        d->failures, d->status_5xx, d->reset, d->closed, d->timed_out,
		        d->failures ? "; first: " : "", d->first_failure);
	else if (d->why_not[0])
		fprintf(out, "\ndemonstration: not run: %s\n", d->why_not);
	fputc('\n', out);
	kp_report_findings(out, findings, md, true);
}

/* ---- compare ------------------------------------------------------------------------------------ */

#define COMPARE_MAX 16

void kp_report_compare(FILE *out, enum kp_format fmt, const struct kp_target *const *t,
                       const struct kp_results *const *r, size_t n)
{
	static char text[COMPARE_MAX][CELL];
	const char *cells[COMPARE_MAX] = { 0 };
	int width = 12;
	bool md = fmt == KP_MARKDOWN;

	n = n > COMPARE_MAX ? COMPARE_MAX : n;
	if (fmt == KP_JSON) {
		fputs("{\n  \"servers\": [", out);
		for (size_t i = 0; i < n; i++) {
			fprintf(out, "%s\n    {\"url\": \"", i ? "," : "");
			for (const char *p = t[i]->url; *p; p++)
				fprintf(out, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			fputs("\", \"result\": ", out);
			kp_report_probe_json_object(out, r[i], 4);
			fputc('}', out);
		}
		fputs("\n  ]\n}\n", out);
		return;
	}
	for (int c = 0; c < KP_CHECK_COUNT; c++)
		for (size_t i = 0; i < n; i++) {
			kp_report_result_text(r[i], (enum kp_check)c, text[i], CELL);
			if (r[i]->ran[c] && (int)strlen(text[i]) > width)
				width = (int)strlen(text[i]);
		}
	for (size_t i = 0; i < n; i++)
		width = width > (int)strlen(server_name(r[i])) ? width : (int)strlen(server_name(r[i]));
	if (md)
		fputs("## kaprobe compare\n\n", out);
	else
		fputs("kaprobe compare\n", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, md ? "%zu. %s (%s)\n" : "  %zu  %s (%s)\n", i + 1, t[i]->url, t[i]->addr_text);
	fputc('\n', out);
	for (size_t i = 0; i < n; i++)
		cells[i] = server_name(r[i]);
	row(out, fmt, "check", cells, n, width);
	if (md)
		md_rule(out, n);
	for (int c = 0; c < KP_CHECK_COUNT; c++) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			any = any || r[i]->ran[c];
			if (r[i]->ran[c])
				kp_report_result_text(r[i], (enum kp_check)c, text[i], CELL);
			else
				strcpy(text[i], "-");
			cells[i] = text[i];
		}
		if (any)
			row(out, fmt, kp_check_name((enum kp_check)c), cells, n, width);
	}
	for (size_t i = 0; i < n; i++) {
		struct kp_findings f;
		kp_findings_of(r[i], &f);
		fprintf(out, md ? "\n### %zu. %s: what to change\n\n" : "\n%zu. %s, what to change:\n",
		        i + 1, server_name(r[i]));
		kp_report_findings(out, &f, md, false);
	}
}
