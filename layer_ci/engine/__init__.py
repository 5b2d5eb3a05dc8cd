"""The test engine: a function and layer zips in; its tests' or one call's result out, /opt as on Lambda."""
