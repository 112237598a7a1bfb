/* report_autolab.c - the line Autolab reads: the last line of the autograder's output must be
 * {"scores": {"<problem>": score, ...}, "scoreboard": [total, ...]}. Problems are exercises. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "report.h"

void report_autolab(FILE *f, const struct grade_result *g)
{
	json_t *root = json_object(), *scores = json_object(), *board = json_array();
	char *line;

	for (size_t i = 0; i < g->nexercises; i++)
		json_object_set_new(scores, g->exercises[i]->name,
				    json_real(round(g->exercises[i]->score * 100) / 100));
	json_array_append_new(board, json_real(round(g->score * 100) / 100));
	for (size_t i = 0; i < g->nexercises; i++)
		json_array_append_new(board, json_real(round(g->exercises[i]->score * 100) / 100));
	json_object_set_new(root, "scores", scores);
	json_object_set_new(root, "scoreboard", board);
	line = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	fprintf(f, "%s\n", line ? line : "{\"scores\": {}}");
	fflush(f);
	free(line);
	json_decref(root);
}
