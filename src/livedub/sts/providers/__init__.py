"""Real STS providers. Each module imports its model package at import time; the registry
(:mod:`livedub.sts.registry`) imports a module only when that provider is used."""
