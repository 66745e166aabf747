"""Baselines: the smallest honest implementation of each function's job.

Standard library json + urllib + boto3, nothing else: what a hand-written Lambda would be. Each
directory is a Lambda code dir on its own (``app.handler``), run by the bench exactly as the built
functions are (fresh runtime interpreter, its dir on ``sys.path``), so a ratio function/baseline
is what our layer and structure cost over the floor.
"""
