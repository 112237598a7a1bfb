/* tl_result.h - how a speedup/overlap driver tells the grader its verdict.
 *
 * A driver calls tl_result_metric() for each number it measured and tl_result_write() once at the
 * end. The result goes as one JSON object to the file named by the environment variable TL_RESULT
 * (the grader sets it), or to stdout when it is unset:
 *   {"status": "pass|fail|inconclusive", "fraction": 0..1, "message": "...", "metrics": {...}}
 * fraction is the share of the check's points earned. The message is what the student reads. */
#ifndef TL_RESULT_H
#define TL_RESULT_H

void tl_result_metric(const char *name, double value);
void tl_result_write(const char *status, double fraction, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
