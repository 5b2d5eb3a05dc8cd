"""Stage 7, report: the stages' results in; what people read (PR bodies, comments, runner output) out."""
