// Keeps a library target non-empty until its area has sources.
