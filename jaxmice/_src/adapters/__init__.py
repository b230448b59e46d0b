"""pandas at the edges: frames in (encoded arrays and a schema) and frames out (completed data,
tables). The only room that imports pandas."""
