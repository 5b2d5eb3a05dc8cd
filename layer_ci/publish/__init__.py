"""Stage 4, publish: built zips in; versions per region, recorded in the lock (also fetch, prune, audit)."""
