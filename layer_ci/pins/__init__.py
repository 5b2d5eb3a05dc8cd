"""Stage 5, pins: a checkout in; its layer version pins, the functions each feeds, rewritten texts out."""
