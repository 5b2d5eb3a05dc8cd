"""Real-part fixtures shared by the tests: moto server, GitHub stand-in, bare git remotes, example repos."""
