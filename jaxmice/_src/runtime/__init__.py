"""How programs run: compiled and cached (programs), sized (sizes), placed (devices), in
float64 scoped to the call (precision), with a progress bar (progress)."""
