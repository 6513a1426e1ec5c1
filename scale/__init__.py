"""Scale-out: the batch stages (context, features, training, scoring) on a Dask cluster.

docs/scale.md describes the engine, what it distributes and what stays on one machine.
"""
