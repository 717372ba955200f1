"""Chat models: the catalogue, pulls from the hub, the installed ones, GGUF headers, GPU advice."""
