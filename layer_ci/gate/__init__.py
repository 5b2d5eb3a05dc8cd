"""Stage 6, gate: functions and new layer versions in; consumers' test verdicts and limit checks out."""
