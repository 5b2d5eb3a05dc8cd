"""The GitHub REST stand-in's parts: in-memory state, JSON shapes, fault injection and the HTTP server."""
