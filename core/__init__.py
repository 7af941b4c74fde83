"""core: event helpers (flat dotted ECS dicts), the pipeline, registries, configuration loading,
secrets, metrics and errors. It imports nothing else of ours."""
