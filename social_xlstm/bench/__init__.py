"""The research harness: the accuracy benchmark, the social layer's variants and the spatial probe.

``social-xlstm bench accuracy | variants | probe`` (:mod:`social_xlstm.bench.command`); the modules:
``run`` (train and score every model under one protocol, resumable), ``report`` (tables, JSON, plots),
``variants`` (the social layer against its ablations), ``probe`` (a linear probe of what neighbours add).
Nothing of the product imports this package but the CLI (tests/test_architecture.py).
"""
